"""Cases: what a report becomes, the rules that route and time it, and its append-only history.

State changes happen only in ``apps.cases.services`` (the workflow service). Models hold data
and small derived properties; no business rules in ``save()`` or signals. Modules: ``catalogue``
(categories, routing, time limits, work calendar), ``case`` (the case and its states) and
``history`` (history rows, photos, extension requests); everything is importable from here.
"""

from apps.cases.models.case import (  # noqa: F401
    DESK_ROLE_FOR_TIER,
    DESK_WAITING_STATUSES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    RUNNING_STATUSES,
    Case,
    Colour,
    PositionSource,
    RejectReason,
    Source,
    Status,
    SweepDue,
    new_public_token,
)
from apps.cases.models.catalogue import (  # noqa: F401
    Category,
    RoutingRule,
    Severity,
    Step,
    TimeBasis,
    TimeLimit,
    WorkCalendarDay,
)
from apps.cases.models.history import (  # noqa: F401
    Action,
    CaseEvent,
    CasePhoto,
    ExtensionRequest,
    ExtensionStatus,
    PhotoKind,
    QuarantinedTask,
    _photo_path,
    _photo_storage,
    _photo_storage_changed,
    _PhotoStorage,
    original_path,
    private_storage,
    thumb_path,
    web_path,
)
