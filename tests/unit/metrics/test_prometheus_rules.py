"""The alerting rules and the Grafana dashboard: promtool proves each alert fires where it should.

promtool comes with Debian's prometheus package (scripts/system-deps.sh installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from worker.metrics import collector

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULES_TEST = DEPLOY / "prometheus" / "rules_test.yml"
DASHBOARD = DEPLOY / "grafana" / "backup-worker.json"
RUNBOOKS = DEPLOY.parent / "docs" / "runbooks.md"
NAME = re.compile(r"\bbackup_worker_[a-z_]+\b")
JsonObject = dict[str, object]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("promtool")
    assert program, "promtool is missing: run scripts/system-deps.sh"
    return subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=120, check=False
    )


def alerts() -> list[JsonObject]:
    loaded = yaml.safe_load(RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_the_rules_are_valid() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = promtool("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_is_shown_to_fire_and_to_stay_quiet() -> None:
    loaded = yaml.safe_load(RULES_TEST.read_text())
    checks = [check for test in loaded["tests"] for check in test["alert_rule_test"]]
    for rule in alerts():
        mine = [check for check in checks if check["alertname"] == rule["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"{rule['alert']} never fires"
        assert any(not check["exp_alerts"] for check in mine), f"{rule['alert']} never quiet"


def test_the_rules_name_only_metrics_the_exporter_exposes() -> None:
    names = set(NAME.findall(RULES.read_text()))
    assert names
    assert names <= collector.EXPOSED


def test_every_alert_links_its_own_runbook_section() -> None:
    headings = re.findall(r"^## (\w+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    anchors = {heading.lower() for heading in headings}
    names = [str(rule["alert"]) for rule in alerts()]
    for rule in alerts():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["runbook_url"] == f"runbooks/#{str(rule['alert']).lower()}"
    assert sorted(headings) == sorted(names)  # a section per alert, and none for a lost one
    assert len(anchors) == len(names)


def panel_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "backup-worker"
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            exprs.append(target["expr"])
    return exprs


def test_every_dashboard_panel_queries_only_exported_metrics() -> None:
    for expr in panel_exprs():
        names = set(NAME.findall(expr))
        assert names, expr
        assert names <= collector.EXPOSED, expr


def test_the_dashboard_shows_every_metric() -> None:
    shown = {name for expr in panel_exprs() for name in NAME.findall(expr)}
    summary = {"backup_worker_pacer_wait_seconds"}  # shown through its _sum and _count
    assert collector.EXPOSED - summary <= shown


def test_the_dashboard_filters_by_project_and_server_and_explains_each_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"datasource", "project", "server"} <= set(variables)
    for name in ("project", "server"):
        assert variables[name]["multi"]
        assert variables[name]["includeAll"]
        used = set(NAME.findall(variables[name]["definition"]))
        assert used, name
        assert used <= collector.EXPOSED
    for panel in dashboard["panels"]:
        assert len(panel["description"]) > 20, panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        for target in panel["targets"]:
            labelled = re.search(r"\{[^}]*\bproject\b", target["legendFormat"])
            if labelled:  # a per-project series: the project variable narrows it
                assert 'project=~"$project"' in target["expr"], panel["title"]
            if "server" in target["legendFormat"]:
                assert 'server=~"$server"' in target["expr"], panel["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    steps = [
        panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps")
        for panel in dashboard["panels"]
    ]
    assert sum(1 for step in steps if step) >= 8  # the panels an alert is about show its limit
