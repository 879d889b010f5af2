"""A small command-line client for the supervisor.

python -m supervisor_service.cli run "Research the vector database market"
python -m supervisor_service.cli stream "Launch campaign for ..." --addr localhost:50051 --save-artifacts out/
python -m supervisor_service.cli tools            # every team's tools, and which external services are off
python -m supervisor_service.cli run "..." --cacert certs/ca.crt --cert certs/tls.crt --key certs/tls.key

With mutual TLS (README, "Service TLS") the client presents a certificate signed by the services' CA and verifies the
supervisor's against it: ``--cert``, ``--key`` and ``--cacert`` (all three), else the ``TLS_CERT_FILE``,
``TLS_KEY_FILE`` and ``TLS_CA_FILE`` settings of the environment; ``--server-name`` (else ``TLS_SERVER_NAME``) when
the address's host is not a name in the supervisor's certificate. Neither: plaintext.
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import grpc
from google.protobuf import json_format
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2

from common.agents.convert import artifact_kind_name
from common.config import load_settings
from common.errors import ConfigError
from common.tls import TlsFiles, check_files, sync_channel, tls_files

_SOURCE = {
    team_pb2.DECISION_SOURCE_MODEL: "model",
    team_pb2.DECISION_SOURCE_KEYWORD_FALLBACK: "keyword fallback",
    team_pb2.DECISION_SOURCE_STEP_LIMIT: "step limit",
}


def _status(workflow: supervisor_pb2.Workflow) -> str:
    return supervisor_pb2.WorkflowStatus.Name(workflow.status).removeprefix("WORKFLOW_STATUS_")


def render_routing_step(step: supervisor_pb2.RoutingStep) -> str:
    """One line per supervisor decision."""
    return f"[router] step {step.index}: -> {step.next} ({_SOURCE.get(step.decision_source, '?')}): {step.reasoning}"


def render_artifact(artifact: team_pb2.Artifact, max_lines: int = 40, saved_to: Path | None = None) -> str:
    """An artifact with its header, content indented and cut after ``max_lines`` lines (binary data is described,
    with the file it was saved to)."""
    lines = artifact.content.splitlines()
    if artifact.data:
        where = f", saved to {saved_to}" if saved_to else ", not saved (use --save-artifacts DIR)"
        lines.insert(0, f"[{artifact.mime_type or 'binary'}, {len(artifact.data)} bytes{where}]")
    shown = lines[:max_lines] + (
        [f"... ({len(lines) - max_lines} more lines)"] if len(lines) > max_lines else []
    )
    header = f"--- {artifact.id} [{artifact.team}/{artifact.agent}] {artifact_kind_name(artifact.kind)}: {artifact.title}"
    return header + "\n" + textwrap.indent("\n".join(shown), "    ")


def render_usage(usage: team_pb2.Usage) -> str:
    """Calls, tokens and dollars on one line."""
    models = ", ".join(f"{m.model} x{m.calls}" + ("" if m.priced else " (no price)") for m in usage.models)
    return (
        f"{usage.model_calls} model calls, {usage.input_tokens} input + {usage.output_tokens} output tokens, "
        f"${usage.cost_usd:.4f}" + (f" [{models}]" if models else "")
    )


def save_artifacts(artifacts: Sequence[team_pb2.Artifact], directory: Path) -> dict[str, Path]:
    """Write each artifact that carries binary data to ``directory/<id><extension>``; returns id -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    saved = {}
    for artifact in artifacts:
        if artifact.data:
            extension = mimetypes.guess_extension(artifact.mime_type or "") or ".bin"
            path = directory / f"{Path(artifact.id).name}{extension}"
            path.write_bytes(artifact.data)
            saved[artifact.id] = path
    return saved


def render_tools(response: supervisor_pb2.ListToolsResponse) -> str:
    """Every team's tools, one line each, with what is off and how to turn it on."""
    out = []
    for tool in response.tools:
        state = "on " if tool.configured else "OFF"
        agents = ", ".join(tool.agents) or "-"
        out.append(f"  {state} {tool.team}/{tool.name} ({agents}): {tool.status}")
    out += [f"  ??? {t.team}: did not answer ({t.code}: {t.message})" for t in response.unavailable_teams]
    off = [t.name for t in response.tools if not t.configured]
    out.append(f"  tools off: {', '.join(off)}" if off else "  every tool is configured")
    return "tools:\n" + "\n".join(out)


def render_workflow(
    workflow: supervisor_pb2.Workflow, max_lines: int = 40, saved: dict[str, Path] | None = None
) -> str:
    """A readable account of a finished workflow: status, routing, team runs, usage and every artifact."""
    out = [
        f"workflow {workflow.id}: {_status(workflow)}",
        f"task: {workflow.task}",
        f"summary: {workflow.summary}",
        f"usage: {render_usage(workflow.usage)}",
    ]
    out += [f"warning: {w}" for w in workflow.warnings]
    out += ["", "routing:"]
    out += [f"  {render_routing_step(step)}" for step in workflow.routing_steps]
    out += ["", "teams:"]
    for run in workflow.team_runs:
        status = supervisor_pb2.TeamRunStatus.Name(run.status).removeprefix("TEAM_RUN_STATUS_")
        out.append(
            f"  {run.team}: {status} in {run.duration.ToMilliseconds()} ms, {len(run.steps)} agent steps"
        )
        if run.error:
            out.append(f"    error ({run.error_code}): {run.error}")
        for step in run.steps:
            if step.kind == team_pb2.AGENT_STEP_KIND_ROUTING:
                out.append(f"    {step.index}. team_lead -> {step.next}")
            else:
                out.append(f"    {step.index}. {step.agent}: {step.error or step.summary}")
    if workflow.failed_teams:
        out.append(f"  failed teams: {', '.join(workflow.failed_teams)}")
    out += ["", f"artifacts ({len(workflow.artifacts)}):"]
    out += [render_artifact(a, max_lines, (saved or {}).get(a.id)) for a in workflow.artifacts]
    return "\n".join(out)


def render_event(event: supervisor_pb2.StreamTaskResponse) -> str | None:
    """One line per streamed event (None for the final ``done`` event)."""
    kind = event.WhichOneof("event")
    if kind == "routing_step":
        return render_routing_step(event.routing_step)
    if kind == "team_started":
        return f"[{event.team_started.team}] started"
    if kind == "agent_step":
        step = event.agent_step
        if step.kind == team_pb2.AGENT_STEP_KIND_ROUTING:
            return f"[{step.team}] team_lead -> {step.next}: {step.reasoning}"
        return f"[{step.team}] {step.agent}: {step.error or step.summary}"
    if kind == "artifact":
        artifact = event.artifact
        return f"[{artifact.team}] artifact {artifact.id} ({artifact_kind_name(artifact.kind)}): {artifact.title}"
    if kind == "team_finished":
        run = event.team_finished
        status = supervisor_pb2.TeamRunStatus.Name(run.status).removeprefix("TEAM_RUN_STATUS_")
        return f"[{run.team}] finished: {status}" + (f" ({run.error_code}: {run.error})" if run.error else "")
    if kind == "review_required":
        review = event.review_required
        return f"[{review.team}] waits for review {review.review_id} of {review.items} item(s)"
    if kind == "text_withdrawn":
        withdrawn = event.text_withdrawn
        return f"[{withdrawn.team}] {withdrawn.agent}: a model call failed, its text withdrawn ({withdrawn.reason})"
    return None


AWAITING_REVIEW_EXIT = 5


def exit_code(workflow: supervisor_pb2.Workflow) -> int:
    """0 for COMPLETED or DEGRADED (done, with warnings), 3 for PARTIAL, 4 for FAILED or CANCELLED, 5 while it
    awaits a review."""
    return {
        supervisor_pb2.WORKFLOW_STATUS_COMPLETED: 0,
        supervisor_pb2.WORKFLOW_STATUS_DEGRADED: 0,
        supervisor_pb2.WORKFLOW_STATUS_PARTIAL: 3,
        supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW: AWAITING_REVIEW_EXIT,
    }.get(workflow.status, 4)


APPROVAL_POLICIES = {
    "tenant": tenant_pb2.APPROVAL_POLICY_UNSPECIFIED,
    "none": tenant_pb2.APPROVAL_POLICY_NONE,
    "before-publishing": tenant_pb2.APPROVAL_POLICY_BEFORE_PUBLISHING,
    "before-content": tenant_pb2.APPROVAL_POLICY_BEFORE_CONTENT_LEAVES,
}


TLS_FLAGS = ("--cert", "--key", "--cacert")


def client_tls(args: argparse.Namespace, parser: argparse.ArgumentParser) -> TlsFiles | None:
    """The client's TLS files: the flags (all three, checked like the settings), else the ``TLS_*`` settings;
    None for plaintext. A bad flag or setting exits with status 2, naming it."""
    given = dict(zip(TLS_FLAGS, (args.cert, args.key, args.cacert), strict=True))
    if any(given.values()):
        if missing := [flag for flag, path in given.items() if not path]:
            parser.error(f"{', '.join(TLS_FLAGS)} go together: {', '.join(missing)} missing")
        try:
            check_files(args.cert, args.key, args.cacert, labels=TLS_FLAGS)
        except ValueError as exc:
            parser.error(str(exc))
        return TlsFiles(args.cert, args.key, args.cacert, args.server_name)
    try:
        tls = tls_files(load_settings())
    except ConfigError as exc:
        parser.exit(2, f"error: {exc}\n")
    if tls is None and args.server_name:
        parser.error("--server-name needs TLS: --cert, --key and --cacert (or the TLS_* settings)")
    return replace(tls, server_name=args.server_name) if tls and args.server_name else tls


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Send a marketing task to the supervisor.")
    parser.add_argument(
        "mode", choices=["run", "stream", "tools"], help="unary RunTask, streaming StreamTask, or ListTools"
    )
    parser.add_argument("task", nargs="?", default="", help="the marketing task (run and stream)")
    parser.add_argument("--addr", default="localhost:50051", help="supervisor address")
    parser.add_argument("--timeout", type=float, default=120.0, help="deadline in seconds")
    parser.add_argument("--json", action="store_true", help="print the workflow as JSON")
    parser.add_argument("--max-lines", type=int, default=40, help="lines shown per artifact")
    parser.add_argument("--save-artifacts", type=Path, metavar="DIR", help="write charts and images to DIR")
    parser.add_argument("--team", default="", help="tools: only this team's tools")
    parser.add_argument(
        "--approval",
        choices=list(APPROVAL_POLICIES),
        default="tenant",
        help="this task's approval policy (stricter than the tenant's only); exit 5 while it awaits a review",
    )
    parser.add_argument(
        "--cert", type=Path, help="mutual TLS: client certificate chain (PEM); default TLS_CERT_FILE"
    )
    parser.add_argument(
        "--key", type=Path, help="mutual TLS: the certificate's private key; default TLS_KEY_FILE"
    )
    parser.add_argument(
        "--cacert", type=Path, help="mutual TLS: CA bundle the server must chain to; default TLS_CA_FILE"
    )
    parser.add_argument("--server-name", help="name expected in the server's certificate; TLS_SERVER_NAME")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a task and print the workflow; exit 0 for COMPLETED or DEGRADED (done, with warnings printed), 3 for
    PARTIAL, 4 for FAILED or CANCELLED, 1 on an RPC error, 2 on bad arguments or TLS settings."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.mode != "tools" and not args.task.strip():
        parser.error(f"{args.mode} needs a task")
    with sync_channel(args.addr, client_tls(args, parser)) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        try:
            if args.mode == "tools":
                tools = stub.ListTools(supervisor_pb2.ListToolsRequest(team=args.team), timeout=args.timeout)
                print(json_format.MessageToJson(tools) if args.json else render_tools(tools))
                return 0
            if args.mode == "run":
                workflow = stub.RunTask(
                    supervisor_pb2.RunTaskRequest(
                        task=args.task, approval_policy=APPROVAL_POLICIES[args.approval]
                    ),
                    timeout=args.timeout,
                ).workflow
            else:
                workflow = None
                writing = ""
                request = supervisor_pb2.StreamTaskRequest(
                    task=args.task, approval_policy=APPROVAL_POLICIES[args.approval]
                )
                for event in stub.StreamTask(request, timeout=args.timeout):
                    if event.HasField("done"):
                        workflow = event.done
                    if args.json:
                        continue
                    if event.HasField("text_delta"):
                        delta = event.text_delta
                        if writing != f"{delta.team}/{delta.agent}":
                            writing = f"{delta.team}/{delta.agent}"
                            print(f"[{delta.team}] {delta.agent} is writing:", flush=True)
                        print(delta.text, end="", flush=True)
                    elif line := render_event(event):
                        print(("\n" if writing else "") + line, flush=True)
                        writing = ""
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    if workflow is None:
        print("error: the stream ended without a workflow", file=sys.stderr)
        return 1
    saved = save_artifacts(workflow.artifacts, args.save_artifacts) if args.save_artifacts else {}
    if args.json:
        print(json_format.MessageToJson(workflow))
    else:
        print("\n" + render_workflow(workflow, args.max_lines, saved))
    return exit_code(workflow)


if __name__ == "__main__":
    sys.exit(main())
