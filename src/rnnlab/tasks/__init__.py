"""The tasks `rnnlab train TASK` runs: one module each, registered here."""
from rnnlab.tasks.base import CommonOptions, Task
from rnnlab.tasks.charlm import CharLM

TASKS = {task.name: task for task in (CharLM,)}

__all__ = ["TASKS", "Task", "CommonOptions"]
