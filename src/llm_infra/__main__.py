"""``python -m llm_infra``: the ``llm-infra`` command."""

from llm_infra.cli import main

if __name__ == "__main__":
    main()
