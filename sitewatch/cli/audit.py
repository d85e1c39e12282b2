"""``sitewatch audit verify|export|check-dossier``: the audit trail and case dossiers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli.common import ConfigOption, cli_actor, err, load_site, open_ledger, out

audit_app = typer.Typer(help="Audit trail: verify it, export and check case dossiers.")


@audit_app.command("verify")
def verify(
    config: ConfigOption,
    evidence: Annotated[
        bool, typer.Option(help="Also check every kept evidence file against its digest.")
    ] = False,
    anchor: Annotated[
        str | None,
        typer.Option(
            metavar="SEQ:HASH",
            help="An audit head kept outside the ledger (the audit_head of an MQTT event or the"
            " retained .../audit/head message): the trail must still reach it.",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain and compare the alert, event and outbox rows with it; exit 1
    and name the first broken entry or the rows that differ."""
    from alerts.audit import AnchorSyntaxError, parse_anchor
    from alerts.integrity import verify_ledger

    try:
        head = None if anchor is None else parse_anchor(anchor)
    except AnchorSyntaxError as error:
        err.print(f"sitewatch audit verify: --anchor: {error}", markup=False)
        raise typer.Exit(2) from None
    site = load_site(config)
    ledger = open_ledger(site)
    try:
        report = verify_ledger(ledger, site.storage.data_dir, evidence, head)
    finally:
        ledger.close()
    chain = report.chain
    if chain.ok:
        out.print(
            f"audit trail intact: {chain.checked} entries, head {chain.head_seq} {chain.head_hash}",
            markup=False,
        )
    else:
        err.print(f"audit trail BROKEN at entry {chain.first_broken}: {chain.reason}", markup=False)
        err.print(f"  entries 1..{chain.head_seq} hold (head {chain.head_hash})", markup=False)
    if head is not None:
        if report.anchor_problem is None:
            out.print(f"anchor {head.seq} reached: the trail holds every entry up to it")
        else:
            err.print(f"anchor NOT reached: {report.anchor_problem}", markup=False)
    rows = report.rows
    if rows is not None:
        out.print(
            f"rows checked against the trail: {rows.alerts_checked} alerts,"
            f" {rows.events_checked} events"
        )
        for problem in rows.problems:
            err.print(f"  row: {problem}", markup=False)
    if evidence:
        out.print(f"evidence files checked: {report.evidence_checked}")
        for problem in report.evidence_problems:
            err.print(f"  evidence: {problem}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    config: ConfigOption,
    alert_id: Annotated[str, typer.Argument(help="The alert whose dossier to write.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="ZIP file to write.")] = None,
) -> None:
    """Write the case dossier of one alert (ZIP with manifest and SHA256SUMS)."""
    from alerts.dossier import DossierError, export_dossier
    from sitewatch.runner import api_base_url

    site = load_site(config)
    target = out_file or Path(f"sitewatch-{site.site.id}-{alert_id}.zip")
    ledger = open_ledger(site)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as handle:
            summary = export_dossier(
                ledger,
                site.storage.data_dir,
                alert_id,
                handle,
                site.site.id,
                api_base_url(site),
                cli_actor(),
                time.time(),
            )
        partial.replace(target)
    except DossierError as error:
        err.print(f"sitewatch audit export: {error}", markup=False)
        raise typer.Exit(2) from None
    finally:
        partial.unlink(missing_ok=True)
        ledger.close()
    out.print(f"wrote {target}: {summary.files} files, SHA256SUMS {summary.sums_sha256}")
    for name in summary.evidence_mismatches:
        err.print(f"  warning: evidence {name} does not match its recorded digest", markup=False)


@audit_app.command("check-dossier")
def check_dossier(
    path: Annotated[Path, typer.Argument(help="A dossier ZIP written by export.")],
) -> None:
    """Check a dossier's files, evidence digests, audit entries and events; exit 1 if any fails."""
    from alerts.dossier import verify_dossier

    problems = verify_dossier(path)
    for problem in problems:
        err.print(f"  {problem}", markup=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"{path}: intact")


def register(app: typer.Typer) -> None:
    """Add the commands to the CLI."""
    app.add_typer(audit_app, name="audit")
