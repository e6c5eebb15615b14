"""Secrets that mask themselves: ``Secret[T]`` with an explicit ``.reveal()``.

Example::

    >>> from llm_infra.secrets import Secret
    >>> token = Secret("s3cr3t")
    >>> token
    Secret('**********')
    >>> token.reveal()
    's3cr3t'
"""

from llm_infra.secrets._secret import MASK as MASK
from llm_infra.secrets._secret import Secret as Secret
from llm_infra.secrets._secret import reveal as reveal

__all__ = ["MASK", "Secret", "reveal"]
