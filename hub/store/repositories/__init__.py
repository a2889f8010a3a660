"""Repositories: the only code that queries the database. They take and return domain values.

One module per noun; :mod:`~hub.store.repositories.mapping` turns rows into domain values and
:mod:`~hub.store.repositories.base` holds what every repository shares. The outbox, the dispatcher's queue,
is :mod:`hub.store.outbox`.
"""

from hub.store.repositories.accounts import AccountRepository, EncryptedSecrets, HealthRecord
from hub.store.repositories.alerts import Alert, AlertRepository
from hub.store.repositories.announcements import AnnouncementRepository
from hub.store.repositories.answers import AnswerRepository, PendingAnswer
from hub.store.repositories.audit import AuditRepository
from hub.store.repositories.base import Repository
from hub.store.repositories.coalition_accounts import CoalitionAccountRepository
from hub.store.repositories.coalitions import CoalitionRepository
from hub.store.repositories.deliveries import DeliveryRepository, NewDelivery
from hub.store.repositories.events import EventRepository
from hub.store.repositories.links import LinkRepository
from hub.store.repositories.mapping import failure_json, failure_of
from hub.store.repositories.media import MediaRepository
from hub.store.repositories.messages import MessageRepository
from hub.store.repositories.oauth import OAuthRepository, StoredApp, StoredRequest
from hub.store.repositories.pages import PageRepository
from hub.store.repositories.preferences import PreferenceRepository
from hub.store.repositories.reach import ReachRepository
from hub.store.repositories.reports import ReportRepository
from hub.store.repositories.reposts import Repost, RepostRepository
from hub.store.repositories.roles import Grant, RoleRepository
from hub.store.repositories.servers import ServerRepository
from hub.store.repositories.signons import SignOnRepository
from hub.store.repositories.starter_packs import StarterPack, StarterPackRepository
from hub.store.repositories.threads import ThreadRuleRepository
from hub.store.repositories.towns import TownRepository, TownValues
from hub.store.repositories.unstagings import Unstaging, UnstagingRepository
from hub.store.repositories.workers import WorkerRepository

__all__ = [
    "AccountRepository",
    "Alert",
    "AlertRepository",
    "AnnouncementRepository",
    "AnswerRepository",
    "AuditRepository",
    "CoalitionAccountRepository",
    "CoalitionRepository",
    "DeliveryRepository",
    "EncryptedSecrets",
    "EventRepository",
    "Grant",
    "HealthRecord",
    "LinkRepository",
    "MediaRepository",
    "MessageRepository",
    "NewDelivery",
    "OAuthRepository",
    "PageRepository",
    "PendingAnswer",
    "PreferenceRepository",
    "ReachRepository",
    "ReportRepository",
    "Repository",
    "Repost",
    "RepostRepository",
    "RoleRepository",
    "ServerRepository",
    "SignOnRepository",
    "StarterPack",
    "StarterPackRepository",
    "StoredApp",
    "StoredRequest",
    "ThreadRuleRepository",
    "TownRepository",
    "TownValues",
    "Unstaging",
    "UnstagingRepository",
    "WorkerRepository",
    "failure_json",
    "failure_of",
]
