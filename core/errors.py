"""The error hierarchy shared by every layer.

``UserError`` messages are safe to show in chat or return to a model: one line, saying what
went wrong and what to do about it. Anything else that escapes is a bug and is logged with its
traceback at a task or request boundary.
"""

from __future__ import annotations


class GluonError(Exception):
    """Base class of every error Gluon raises on purpose."""


class UserError(GluonError):
    """Something the user (or the model acting for them) can fix; the message says how."""


class NotFound(UserError):
    """An id or name that matches nothing."""


class Ambiguous(UserError):
    """A prefix that matches more than one thing."""


class InvalidInput(UserError):
    """A value with the wrong shape: a bad name, model alias, path, budget, ..."""


class Conflict(UserError):
    """The request is valid but the current state forbids it (a finished run, a dirty checkout)."""


class BudgetExceeded(UserError):
    """A daily or per-project budget is spent; new runs are refused until it resets."""


class ConfigError(GluonError):
    """The configuration is invalid; the message names the key, the value and what is expected."""


class MigrationFailed(GluonError):
    """A migration of the database failed; it was rolled back and the file is as it was."""
