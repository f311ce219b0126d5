"""The Snakemake workflow catalog's conventions: .snakemake-workflow-catalog.yml and config/README.md."""

import re

import yaml

from conftest import REPO

SCHEMAS = REPO / "src" / "icl_dynamics" / "schemas"


def test_catalog_file_has_the_catalogs_keys():
    """The keys the catalog reads (usage: mandatory-flags, software-stack-deployment, report), nothing else."""
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    flags = usage["mandatory-flags"]
    assert set(flags) == {"desc", "flags"} and flags["desc"].strip()
    assert isinstance(flags["flags"], str) or all(isinstance(flag, str) for flag in flags["flags"])
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda", "singularity", "singularity+conda"}
    assert all(isinstance(value, bool) for value in [*deployment.values(), usage["report"]])


def test_config_readme_describes_every_section_and_key_group():
    """Every top-level key and every key group of each section's schema is named in config/README.md, so a
    key group added to a schema without its description fails here."""
    readme = (REPO / "config" / "README.md").read_text()
    named = set(re.findall(r"`([A-Za-z_]\w*(?:\.\w+)*)(?:\.\*)?`", readme))
    top = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())["properties"]
    missing = []
    for key, schema in top.items():
        if schema == {"type": "object"}:  # an experiment section with its own schema file
            assert f"`{key}:` (`{key}.schema.yaml`)" in readme, key
            groups = yaml.safe_load((SCHEMAS / f"{key}.schema.yaml").read_text())["properties"]
            missing += [f"{key}.{group}" for group in groups if group not in named]
        elif "properties" in schema:
            missing += [f"{key}.{sub}" for sub in schema["properties"] if f"{key}.{sub}" not in named]
        elif key not in named:
            missing.append(key)
    assert not missing, f"config/README.md does not describe {missing}"
