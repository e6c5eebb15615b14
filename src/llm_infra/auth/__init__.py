"""Authentication and authorization: API keys, JWTs, RBAC and an ASGI middleware.

``ApiKeyAuthenticator`` issues ``lli_<id>_<secret>`` keys and stores only their hashes in a
``KeyStore`` (``SqliteKeyStore`` by default, ``PostgresKeyStore`` for replicas);
``JwtAuthenticator`` maps a verified token's claims onto an ``Identity``; ``MultiAuthenticator``
tries each. ``RbacPolicy`` decides ``action:resource`` permissions (wildcards, inheritance,
deny by default, explicit deny wins). ``AuthMiddleware`` puts it together for any ASGI app
(brute-force budget, authentication, deny-by-default authorization) and records every attempt
in the security audit log; ``secure_stack`` adds the per-identity rate limit in the right order.
"""

from llm_infra.auth._apikey import ApiKeyAuthenticator as ApiKeyAuthenticator
from llm_infra.auth._apikey import IssuedKey as IssuedKey
from llm_infra.auth._apikey import parse_api_key as parse_api_key
from llm_infra.auth._identity import API_KEY_PREFIX as API_KEY_PREFIX
from llm_infra.auth._identity import Authenticator as Authenticator
from llm_infra.auth._identity import CredentialKind as CredentialKind
from llm_infra.auth._identity import Credentials as Credentials
from llm_infra.auth._identity import Identity as Identity
from llm_infra.auth._jwt import JwtAuthenticator as JwtAuthenticator
from llm_infra.auth._jwt import MultiAuthenticator as MultiAuthenticator
from llm_infra.auth._jwt import TokenValidator as TokenValidator
from llm_infra.auth._middleware import AuthMiddleware as AuthMiddleware
from llm_infra.auth._middleware import extract_credentials as extract_credentials
from llm_infra.auth._postgres import PostgresKeyStore as PostgresKeyStore
from llm_infra.auth._rbac import RbacPolicy as RbacPolicy
from llm_infra.auth._rbac import Role as Role
from llm_infra.auth._stack import secure_stack as secure_stack
from llm_infra.auth._store import ApiKeyRecord as ApiKeyRecord
from llm_infra.auth._store import AsyncKeyStore as AsyncKeyStore
from llm_infra.auth._store import KeyStore as KeyStore
from llm_infra.auth._store import MemoryKeyStore as MemoryKeyStore
from llm_infra.auth._store import SqliteKeyStore as SqliteKeyStore

__all__ = [
    "API_KEY_PREFIX",
    "ApiKeyAuthenticator",
    "ApiKeyRecord",
    "AsyncKeyStore",
    "AuthMiddleware",
    "Authenticator",
    "CredentialKind",
    "Credentials",
    "Identity",
    "IssuedKey",
    "JwtAuthenticator",
    "KeyStore",
    "MemoryKeyStore",
    "MultiAuthenticator",
    "PostgresKeyStore",
    "RbacPolicy",
    "Role",
    "SqliteKeyStore",
    "TokenValidator",
    "extract_credentials",
    "parse_api_key",
    "secure_stack",
]
