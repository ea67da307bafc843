"""`drrn-stream bench`: the device's GEMM peak, DRRN against it, the pipeline against DRRN."""
