"""The tasks `rnnlab train TASK` runs: one module each, registered here."""
from rnnlab.tasks.addition import Addition
from rnnlab.tasks.base import CommonOptions, Task
from rnnlab.tasks.charlm import CharLM
from rnnlab.tasks.lstm_toy import LSTMToy
from rnnlab.tasks.sincos import SinCos
from rnnlab.tasks.longrange import Adding, Copy
from rnnlab.tasks.wordlm import WordLM

TASKS = {task.name: task for task in (CharLM, Adding, Copy, WordLM, Addition, LSTMToy, SinCos)}

__all__ = ["TASKS", "Task", "CommonOptions"]
