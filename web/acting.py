"""What a person does on the page, each a call of one of Gluon's tools as that person.

``POST /runs/<id>/<action>`` (steer, interrupt, resume, cancel, merge, pr),
``POST /answer/<request id>`` (a question's option or free text, a permission's decision) and
``POST /do/<tool>`` (the buttons of the board's panels: the tools in :data:`PANEL_TOOLS`, with
the form fields each takes).
A destructive tool is first held: the page shows what it would do and a Confirm button that
posts the same form again with ``confirmed=1``. Whatever the tool says (done, or refused and
why: a viewer's role, a run that already ended) is shown on the page the person came from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.access.web import WebAccess, WebSession
from core.models import Run
from core.types import RunState
from web import notices
from web.actions import ActionResult, Actions
from web.guard import Form, form_of, signed_in
from web.render import PERMISSION_LABELS
from web.views import private_page


@dataclass(frozen=True)
class RunAction:
    name: str  # in the URL
    label: str  # on its button
    tools: tuple[str, ...]  # called in order, each only if the one before succeeded
    shown: Callable[[Run], bool]  # whether the run page offers it
    text: str = ""  # the label of its text field, if it takes one ("message")
    done: str = "Done."  # what the page says once it is done; {short} is the run's id

    def arguments(self, run: Run, form: Form) -> dict[str, Any]:
        args: dict[str, Any] = {"run": run.id}
        if self.text:
            args["message"] = form.get("message")
        return args


def _working(run: Run) -> bool:
    return run.state in (RunState.RUNNING, RunState.WAITING)


def _reviewable(run: Run) -> bool:
    return run.state is RunState.REVIEW and bool(run.branch)


RUN_ACTIONS = [
    RunAction("steer", "Steer", ("steer_run",), lambda r: r.state.is_live,
              "What the agent should read while it works", "Sent to run {short}."),
    RunAction("interrupt", "Interrupt", ("interrupt_run",), _working,
              done="Interrupted run {short}; steer it to go on."),
    RunAction("resume", "Resume", ("resume_run",), lambda r: r.state.is_resumable,
              "The follow-up instruction", "Resumed run {short}."),
    RunAction("cancel", "Cancel", ("cancel_run",),
              lambda r: r.state.is_live or r.state is RunState.INTERRUPTED,
              done="Cancelled run {short}."),
    RunAction("merge", "Merge", ("merge_run",), _reviewable),
    RunAction("pr", "Create PR", ("push_branch", "create_pr"), _reviewable),
]
BY_NAME = {a.name: a for a in RUN_ACTIONS}


def said(action: RunAction, run: Run, result: ActionResult) -> str:
    """The line the page shows once an action is done."""
    data = result.data
    if "message" in data and isinstance(data["message"], str):
        return data["message"]  # a merge says how it went
    pr = data.get("pull_request")
    if isinstance(pr, dict) and "url" in pr:
        return f"Opened pull request #{pr.get('number')}: {pr['url']}"
    return action.done.format(short=run.short)


# The tools the board's panels call, and the form fields each takes (as text; ``int`` fields
# are converted). Anything else posted to /do/ is refused.
PANEL_TOOLS: dict[str, dict[str, type]] = {
    "reprioritize_queued": {"run": str, "priority": int},
    "cancel_queued": {"run": str},
    "pause_schedule": {"schedule": str},
    "resume_schedule": {"schedule": str},
    "remove_schedule": {"schedule": str},
    "retry_merge": {"entry": str},
    "cancel_merge": {"entry": str},
    "drain_worker": {"name": str},
    "undrain_worker": {"name": str},
}


def panel_arguments(tool: str, form: Form) -> dict[str, Any]:
    """The tool's arguments from the form; raises ValueError naming a field that is wrong."""
    args: dict[str, Any] = {}
    for name, kind in PANEL_TOOLS[tool].items():
        value = form.get(name).strip()
        if not value:
            raise ValueError(f"{name} is missing")
        try:
            args[name] = kind(value)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    return args


Find = Callable[[Request, str], Awaitable[Run | Response]]
MayAnswer = Callable[[WebSession, str], Awaitable[str | None]]


def routes(web: WebAccess, actions: Actions, find: Find, may_answer: MayAnswer) -> list[Route]:
    """``find``: the run of an id, as the run page finds it (a Run, or its 404 page);
    ``may_answer``: why a person may not answer a request (their chat's ``answers`` rule)."""

    async def act(request: Request) -> Response:
        who = signed_in(request).session
        form = form_of(request)
        action = BY_NAME.get(request.path_params["action"])
        found = await find(request, request.path_params["run_id"])
        if not isinstance(found, Run):
            return found
        back = f"/runs/{found.id}"
        if action is None:
            return notices.redirect(back, f"There is no action "
                                    f"{request.path_params['action']!r}.", False, web.secure)
        arguments = action.arguments(found, form)
        result = ActionResult(False, "nothing to do")
        for tool in action.tools:
            result = await actions.call(tool, arguments if tool == action.tools[0]
                                        else {"run": found.id}, who,
                                        confirmed=form.flag("confirmed"))
            if result.held_preview is not None:
                return private_page(request, "confirm.html", preview=result.held_preview,
                                    action=f"/runs/{found.id}/{action.name}", back=back,
                                    fields=[(k, v) for k, v in form.pairs if k not in (
                                        "csrf", "confirmed")])
            if not result.ok:
                return notices.redirect(back, result.text, False, web.secure)
        merged = result.data.get("merged", True)  # a merge with conflicts changed nothing
        return notices.redirect(back, said(action, found, result), merged is not False,
                                web.secure)

    async def answer(request: Request) -> Response:
        who = signed_in(request).session
        form = form_of(request)
        back = notices.safe_path(form.get("back", "/"))
        request_id = request.path_params["request_id"]
        if form.get("kind") == "permission":
            choice = form.get("answer")
            tool, arguments = "decide_permission", {"id": request_id, "decision": choice}
            shown = PERMISSION_LABELS.get(choice, choice)
        else:
            choice = (form.get("text").strip() or ", ".join(form.all("pick"))
                      or form.get("answer"))
            tool, arguments, shown = "answer_question", {"id": request_id,
                                                         "answer": choice}, choice
        if not choice:
            return notices.redirect(back, "Pick an option or write an answer; nothing was "
                                    "sent.", False, web.secure)
        refused = await may_answer(who, request_id)
        if refused is not None:
            return notices.redirect(back, refused, False, web.secure)
        result = await actions.call(tool, arguments, who)
        if not result.ok:
            return notices.redirect(back, f"Could not answer: {result.text}", False,
                                    web.secure)
        return notices.redirect(back, f"Answered: {shown}", True, web.secure)

    async def do(request: Request) -> Response:
        who = signed_in(request).session
        form = form_of(request)
        back = notices.safe_path(form.get("back", "/"))
        tool = request.path_params["tool"]
        if tool not in PANEL_TOOLS:
            return notices.redirect(back, f"The page has no button for {tool}.", False,
                                    web.secure)
        try:
            arguments = panel_arguments(tool, form)
        except ValueError as exc:
            return notices.redirect(back, f"Nothing was done: {exc}.", False, web.secure)
        result = await actions.call(tool, arguments, who, confirmed=form.flag("confirmed"))
        if result.held_preview is not None:
            return private_page(request, "confirm.html", preview=result.held_preview,
                                action=f"/do/{tool}", back=back,
                                fields=[(k, v) for k, v in form.pairs if k not in (
                                    "csrf", "confirmed")])
        if not result.ok:
            return notices.redirect(back, result.text, False, web.secure)
        return notices.redirect(back, f"Done: {tool.replace('_', ' ')}.", True, web.secure)

    return [Route("/runs/{run_id}/{action}", act, methods=["POST"]),
            Route("/answer/{request_id}", answer, methods=["POST"]),
            Route("/do/{tool}", do, methods=["POST"])]
