"""The workflow service: every state change of a case, in the words of DOMAIN.md §4.

Each public function validates who may act (``rules.allowed_actions``), changes the case with
one conditional UPDATE (``WHERE id = ? AND version = ?`` — the loser of a race gets
``ConcurrentChange``, on SQLite and PostgreSQL alike), appends one history event, and queues
follow-up work (notifications, routing) for after the commit. All of it inside one transaction:
a step either happens completely or not at all.

    report_intake          上报 through any channel (field app, 随手拍, Open311, hotline desk)
    case_report            上报          case_accept      受理/立案     case_reject    不予立案
    case_merge             合并          case_dispatch    派遣          case_sign      签收
    case_return            退单          extension_request / extension_decide  延期
    case_escalate          上报上级      case_joint_response  闪电集结
    case_handle            处置反馈      case_verify      核查/返工     case_close     结案
    case_reopen            重新打开      case_urge        督办          case_defer / case_resume 挂账
    case_rated             回访评价 (a history row only)
    case_route             分流 (the routing task's step; ``case_route_waiting``: with a batch
                           of other waiting reports, as the task runs it)

Modules: ``base`` (errors, the history record, the one conditional UPDATE, the case's outbox),
``report`` (the one intake of every channel), ``routing``, ``desk`` (the desk's steps),
``handling`` (handling and closure), ``sweeps`` (the sweeps' set-based UPDATEs) and ``bulk``
(made-up histories for the demo). Callers import this package; the names below are its public
face. Case and history rows are written nowhere else (tests/cases/test_single_writer.py).
"""

from apps.cases.services.base import (
    MAJOR_SEVERITIES,
    PENDING_WORK_TASKS,
    STEP_FOR_STATUS,
    ConcurrentChange,
    DuplicateSubmission,
    IllegalTransition,
    NotPermitted,
    WorkflowError,
    _change,
    case_outbox_add,
    case_outbox_done,
    clock_fields,
    routing_target,
)
from apps.cases.services.desk import (
    case_accept,
    case_dispatch,
    case_escalate,
    case_escalate_overdue,
    case_joint_response,
    case_merge,
    case_reject,
    case_return,
    case_sign,
    extension_decide,
    extension_request,
)
from apps.cases.services.handling import (
    case_close,
    case_defer,
    case_handle,
    case_rated,
    case_reopen,
    case_resume,
    case_urge,
    case_verify,
)
from apps.cases.services.report import (
    PositionMissing,
    ReportIntake,
    case_report,
    report_intake,
    report_photo_kinds,
)
from apps.cases.services.routing import (
    case_route,
    case_route_waiting,
    case_routed_already,
    probable_duplicate,
)

__all__ = [
    "ConcurrentChange",
    "DuplicateSubmission",
    "IllegalTransition",
    "MAJOR_SEVERITIES",
    "PENDING_WORK_TASKS",
    "NotPermitted",
    "PositionMissing",
    "ReportIntake",
    "STEP_FOR_STATUS",
    "WorkflowError",
    "_change",
    "case_accept",
    "case_close",
    "case_defer",
    "case_dispatch",
    "case_escalate",
    "case_escalate_overdue",
    "case_handle",
    "case_joint_response",
    "case_merge",
    "case_outbox_add",
    "case_outbox_done",
    "case_rated",
    "case_reject",
    "case_reopen",
    "case_report",
    "case_resume",
    "case_return",
    "case_route",
    "case_route_waiting",
    "case_routed_already",
    "case_sign",
    "case_urge",
    "case_verify",
    "clock_fields",
    "extension_decide",
    "extension_request",
    "probable_duplicate",
    "report_intake",
    "report_photo_kinds",
    "routing_target",
]
