"""Secrets that mask themselves: ``Secret[T]`` with an explicit ``.reveal()``, and the one rule
for which names are secret (``is_secret_name``), shared by spans, logs, HTTP errors and config.

Example::

    >>> from llm_infra.secrets import Secret, is_secret_name
    >>> token = Secret("s3cr3t")
    >>> token
    Secret('**********')
    >>> token.reveal()
    's3cr3t'
    >>> is_secret_name("Authorization")
    True
"""

from llm_infra.secrets._names import is_secret_name as is_secret_name
from llm_infra.secrets._secret import MASK as MASK
from llm_infra.secrets._secret import Secret as Secret
from llm_infra.secrets._secret import reveal as reveal

__all__ = ["MASK", "Secret", "is_secret_name", "reveal"]
