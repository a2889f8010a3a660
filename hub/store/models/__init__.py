"""Tables. Every change here needs an Alembic revision (a test compares the two).

Time stamps have no default: the repositories set each one from the hub's clock, so a test that moves the clock
sees it in the rows, and an insert that forgets one fails at once instead of taking the wall clock's time.

One module per family of tables; every table is importable from this package.
"""

from hub.store.models.announcements import AnnouncementRow, MediaRow, SignOnRow, ThreadRuleRow, VersionRow
from hub.store.models.base import NAMING, Base, UTCDateTime
from hub.store.models.members import (
    AccountAlertRow,
    AccountRow,
    CoalitionRow,
    CoalitionTownRow,
    OAuthAppRow,
    OAuthRequestRow,
    RoleGrantRow,
    TownRow,
)
from hub.store.models.outbox import DeliveryRow, ReportRow, ServerTraitRow, UnstagingRow, WorkerRow
from hub.store.models.reach import (
    CoalitionAccountRow,
    PostCountRow,
    ReachRoundRow,
    RepostRequestRow,
    RepostRow,
    StarterPackRow,
)
from hub.store.models.records import (
    AnnouncementMessageRow,
    AuditRow,
    PendingAnswerRow,
    ProcessedEventRow,
    StatusLinkRow,
    UserPreferenceRow,
)

__all__ = [
    "NAMING",
    "AccountAlertRow",
    "AccountRow",
    "AnnouncementMessageRow",
    "AnnouncementRow",
    "AuditRow",
    "Base",
    "CoalitionAccountRow",
    "CoalitionRow",
    "CoalitionTownRow",
    "DeliveryRow",
    "MediaRow",
    "OAuthAppRow",
    "OAuthRequestRow",
    "PendingAnswerRow",
    "PostCountRow",
    "ProcessedEventRow",
    "ReachRoundRow",
    "ReportRow",
    "RepostRequestRow",
    "RepostRow",
    "RoleGrantRow",
    "ServerTraitRow",
    "SignOnRow",
    "StarterPackRow",
    "StatusLinkRow",
    "ThreadRuleRow",
    "TownRow",
    "UTCDateTime",
    "UnstagingRow",
    "UserPreferenceRow",
    "VersionRow",
    "WorkerRow",
]
