"""Error codes of ``llm_infra.config``."""

from __future__ import annotations

from typing import Final

INVALID: Final = "config.invalid"
INVALID_KEY: Final = "config.invalid_key"
INVALID_SOURCE: Final = "config.invalid_source"
INVALID_OPTION: Final = "config.invalid_option"
INVALID_MODEL: Final = "config.invalid_model"
INVALID_ENV: Final = "config.invalid_env"
AMBIGUOUS_ENV: Final = "config.ambiguous_env"
FILE_NOT_FOUND: Final = "config.file_not_found"
FILE_UNREADABLE: Final = "config.file_unreadable"
FILE_TOO_LARGE: Final = "config.file_too_large"
NOT_A_REGULAR_FILE: Final = "config.not_a_regular_file"
UNKNOWN_FORMAT: Final = "config.unknown_format"
PARSE_ERROR: Final = "config.parse_error"
TOO_DEEP: Final = "config.too_deep"
YAML_LIMITS: Final = "config.yaml_limits"
TYPE_CONFLICT: Final = "config.type_conflict"
MISSING_KEY: Final = "config.missing_key"
WRONG_TYPE: Final = "config.wrong_type"
NOT_A_SECTION: Final = "config.not_a_section"
KEY_OUTSIDE_SECTION: Final = "config.key_outside_section"
VALIDATION: Final = "config.validation"
SECRET_UNRESOLVED: Final = "config.secret_unresolved"  # noqa: S105 - an error code
NOTHING_TO_WATCH: Final = "config.nothing_to_watch"
MISSING_EXTRA: Final = "config.missing_extra"

DESCRIPTIONS: Final[dict[str, str]] = {
    INVALID: "A configuration problem without a more specific code.",
    INVALID_KEY: "A key name or its declaration is invalid.",
    INVALID_SOURCE: "A source was given invalid data (a non-mapping, a bad prefix).",
    INVALID_OPTION: "A configuration API was called with an invalid option.",
    INVALID_MODEL: "Config.bind was given a type that is neither a dataclass nor a pydantic model.",
    INVALID_ENV: "An environment variable name cannot be mapped to a key.",
    AMBIGUOUS_ENV: "An environment variable could set several declared keys; use the '__' spelling.",
    FILE_NOT_FOUND: "A required configuration file does not exist.",
    FILE_UNREADABLE: "A configuration file exists but cannot be read.",
    FILE_TOO_LARGE: "A configuration or ${file:...} secret file is larger than the read limit.",
    NOT_A_REGULAR_FILE: "A configuration or ${file:...} path is a FIFO, a device or a directory.",
    UNKNOWN_FORMAT: "The file format is neither TOML, JSON nor YAML.",
    PARSE_ERROR: "A configuration file does not parse (file, line and column are named).",
    TOO_DEEP: "Values nest deeper than the limit.",
    YAML_LIMITS: "A YAML document uses too many aliases or expands to too many nodes.",
    TYPE_CONFLICT: "A key is set both as a section and as a value.",
    MISSING_KEY: "A required key has no value.",
    WRONG_TYPE: "A value does not convert to its key's type.",
    NOT_A_SECTION: "A value was used as a section.",
    KEY_OUTSIDE_SECTION: "A key read through a section lies outside that section.",
    VALIDATION: "Binding a section to a dataclass or model found problems (all listed).",
    SECRET_UNRESOLVED: "A ${env:...} or ${file:...} reference cannot be resolved.",
    NOTHING_TO_WATCH: "ConfigWatcher was given a loader without files.",
    MISSING_EXTRA: "An optional dependency is not installed (the pip line is named).",
}
