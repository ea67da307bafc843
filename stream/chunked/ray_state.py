"""The Ray actor a run's tasks share, in a module of its own: the actor's worker process imports
only this (not PyTorch), so it is up at once, and the tasks that wait on it do not wait long."""

from __future__ import annotations


class RunState:
    """A Ray actor shared by a run's tasks: what they run with (the first task to load its model
    settles it, where no chunk was done before: nodes may differ, say in bf16 support) and each
    chunk's frames written so far, read by the driver for its progress bar."""

    def __init__(self, ran: dict) -> None:
        self.ran, self.frames = ran, {}

    def settle(self, ran: dict) -> dict:
        self.ran = self.ran or ran
        return self.ran

    def set(self, index: int, frames: int) -> None:
        self.frames[index] = frames

    def read(self) -> dict[int, int]:
        return self.frames
