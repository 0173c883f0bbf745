"""The tasks `rnnlab train TASK` runs: one module each, registered here.

`saved_task(name, options)` reads a saved run's task and options the way today's tasks
name them (old option names, and `wordlm` runs in sentence mode, which are `wordlm-sentence`).
"""

from typing import Any

from rnnlab.tasks.addition import Addition
from rnnlab.tasks.base import CommonOptions, Task
from rnnlab.tasks.charlm import CharLM
from rnnlab.tasks.longrange import Adding, Copy
from rnnlab.tasks.lstm_toy import LSTMToy
from rnnlab.tasks.options import OLD_NAMES, Options, upgrade_names
from rnnlab.tasks.sincos import SinCos
from rnnlab.tasks.wordlm import WordLM
from rnnlab.tasks.wordlm_sentence import WordLMSentence

TASKS = {task.name: task for task in (CharLM, Adding, Copy, WordLM, WordLMSentence, Addition, LSTMToy, SinCos)}

# (task, its old `mode` setting) -> the task that mode is today
OLD_MODES: dict[tuple[str, str], str] = {("wordlm", "stream"): "wordlm", ("wordlm", "sentence"): "wordlm-sentence"}


def saved_task(name: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(task name, options) of a saved run or old-style call, in today's names.

    >>> saved_task("wordlm", {"mode": "sentence", "hidden": 8})
    ('wordlm-sentence', {'hidden_size': 8})
    """
    options = upgrade_names(options)
    mode = options.get("mode")
    if mode is not None and (name, mode) in OLD_MODES:
        name = OLD_MODES[(name, mode)]
        options = {k: v for k, v in options.items() if k != "mode"}
    return name, options


__all__ = ["TASKS", "Task", "Options", "CommonOptions", "OLD_NAMES", "OLD_MODES", "saved_task"]
