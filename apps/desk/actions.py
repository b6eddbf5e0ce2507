"""The step buttons on a case's page: what each one is called, its form, and the workflow
service call behind it."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from apps.cases import services, tracking
from apps.cases.models import Case, ExtensionStatus
from apps.desk import forms as admin_forms

# --- the actions on a case's page -----------------------------------------------------------


@dataclass(frozen=True)
class DeskAction:
    name: str
    label: str
    form: type[forms.Form]
    style: str = ""  # "primary", "danger" or ""
    hint: str = ""


DESK_ACTIONS: dict[str, DeskAction] = {
    a.name: a
    for a in [
        DeskAction("accept", "受理立案", admin_forms.NoteForm, "primary"),
        DeskAction(
            "dispatch",
            "派遣",
            admin_forms.DispatchForm,
            "primary",
            "派给牵头单位，可加协办单位和办理时限",
        ),
        DeskAction(
            "redispatch", "改派", admin_forms.DispatchForm, "", "改派给其他单位（尚未签收）"
        ),
        DeskAction("extension_decide", "审批延期", admin_forms.ExtensionDecisionForm, "primary"),
        DeskAction("close", "结案归档", admin_forms.NoteForm, "primary"),
        DeskAction("urge", "督办", admin_forms.NoteForm, "", "提醒处置单位及其上级"),
        DeskAction(
            "escalate", "上报上级", admin_forms.ReasonForm, "", "超出本级能力，交上一级指挥中心"
        ),
        DeskAction("merge", "合并到", admin_forms.MergeForm, "", "重复上报：并入同一问题的事件"),
        DeskAction("reject", "不予立案", admin_forms.RejectForm, "danger"),
        DeskAction("defer", "挂账缓办", admin_forms.DeferForm, ""),
        DeskAction("resume", "恢复办理", admin_forms.NoteForm, "primary"),
        DeskAction("reopen", "重新打开", admin_forms.ReasonForm, ""),
    ]
}


def _call_service(action: str, case: Case, user, form: forms.Form) -> str:
    """Run one step through the workflow service; returns what to tell the user."""
    kwargs = form.service_kwargs()
    if action == "accept":
        services.case_accept(case=case, actor=user, **kwargs)
    elif action in ("dispatch", "redispatch"):
        services.case_dispatch(case=case, actor=user, **kwargs)
        return f"已派遣至 {kwargs['lead_unit'].name}"
    elif action == "reject":
        services.case_reject(case=case, actor=user, **kwargs)
    elif action == "merge":
        services.case_merge(case=case, actor=user, **kwargs)
        return f"已合并到 {tracking.display(kwargs['into'].tracking_number)}"
    elif action == "extension_decide":
        request = case.extension_requests.filter(status=ExtensionStatus.PENDING).first()
        if request is None:
            raise services.WorkflowError("这个事件没有待审批的延期申请。")
        services.extension_decide(request=request, actor=user, **kwargs)
        return "已批准延期" if kwargs["approve"] else "已驳回延期申请"
    elif action == "escalate":
        services.case_escalate(case=case, actor=user, **kwargs)
    elif action == "urge":
        services.case_urge(case=case, actor=user, **kwargs)
    elif action == "close":
        services.case_close(case=case, actor=user, **kwargs)
    elif action == "reopen":
        services.case_reopen(case=case, actor=user, **kwargs)
    elif action == "defer":
        services.case_defer(case=case, actor=user, **kwargs)
    elif action == "resume":
        services.case_resume(case=case, actor=user, **kwargs)
    else:  # pragma: no cover - DESK_ACTIONS and this switch are kept together
        raise services.WorkflowError("未知的操作。")
    return f"已{DESK_ACTIONS[action].label}"
