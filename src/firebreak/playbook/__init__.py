"""The playbook: everything a brand decides in advance, as versionable, validated YAML."""
