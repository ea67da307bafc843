"""What is built on the model worker besides the file pipeline: the frame API and the live preview."""
