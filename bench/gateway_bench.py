"""Benchmark of the validating DICOM gateway against a plain pynetdicom storage SCP.

    .venv/bin/python bench/gateway_bench.py [--instances 1000] [--senders 8]
        [--modes baseline,store,forward] [--out docs/gateway-bench.md]

Instances are CT_small copies (128x128, pydicom's test data), each with its own SOP
Instance UID: half real, a quarter stamped and watermarked (acknowledged synthetic), a
quarter stamped, watermarked and stripped of every label (unacknowledged synthetic, which
the gateway must reject with 0xC501). The same instances are sent, in the same run, by the
same ``--senders`` processes (one association each) to

* ``baseline``: a plain pynetdicom storage SCP whose handler writes the file and says
  Success (no validation, no fsync);
* ``store``: ``synthmark.serve.dicom.Gateway`` with ``store`` and ``quarantine`` folders;
* ``forward``: the gateway forwarding to a second plain storage SCP (in its own process,
  as the next hop would be on its own machine).

Senders are separate processes (spawned, so the server's GIL is its own) and start
together on a barrier; throughput is instances / (last response - first request). After
each run every instance is checked: its status is the expected one and it is on disk
where it should be (0 lost). The table is printed and, with ``--out``, written between
the ``bench:start``/``bench:end`` markers of the given Markdown file.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import platform
import queue
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
SM501 = 0xC501


@dataclass(frozen=True)
class Instance:
    path: Path
    uid: str
    kind: str  # real | acknowledged | unacknowledged
    expected: int


# ----------------------------------------------------------------------------- data


def make_instances(folder: Path, count: int) -> list[Instance]:
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    from synthmark.api import stamp
    from synthmark.demo import strip_dicom_labels
    from synthmark.record.parsing import parse_record
    from synthmark.watermark import PUBLIC_DETECTION_KEY

    source = Path(str(get_testdata_file("CT_small.dcm", download=False)))
    record = parse_record((REPO / "spec/examples/valid-diffusion-ct-chest.json").read_bytes())
    templates = {"real": folder / "real.dcm"}
    shutil.copy(source, templates["real"])
    templates["acknowledged"] = folder / "acknowledged.dcm"
    # Strength 3: CT_small is small and noisy; at 1.0 stamp would leave it unmarked.
    result = stamp(
        source,
        record,
        dest=templates["acknowledged"],
        watermark=PUBLIC_DETECTION_KEY,
        strength=3.0,
    )
    assert result.record.watermark is not None, result.watermark_note
    templates["unacknowledged"] = folder / "unacknowledged.dcm"
    strip_dicom_labels(templates["acknowledged"], templates["unacknowledged"])
    datasets = {kind: pydicom.dcmread(path) for kind, path in templates.items()}
    expected = {"real": 0, "acknowledged": 0, "unacknowledged": SM501}
    cycle = ["real", "acknowledged", "real", "unacknowledged"]
    out = folder / "instances"
    out.mkdir()
    instances = []
    for index in range(count):
        kind = cycle[index % len(cycle)]
        dataset = datasets[kind]
        uid = generate_uid()
        dataset.SOPInstanceUID = uid
        dataset.file_meta.MediaStorageSOPInstanceUID = uid
        path = out / f"{index:05d}-{kind}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        instances.append(Instance(path, str(uid), kind, expected[kind]))
    return instances


# --------------------------------------------------------------------------- senders


def _sender(
    port: int, paths: list[str], barrier: Any, results: Any, number: int
) -> None:  # runs in a spawned process
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

    ae = AE(ae_title=f"SENDER{number}")
    ae.add_requested_context(CTImageStorage)
    ae.dimse_timeout = 120
    barrier.wait()
    started = time.time()
    assoc = ae.associate("127.0.0.1", port, ae_title="SYNTHMARK")
    statuses: list[tuple[str, int, float]] = []
    for path in paths:
        t0 = time.perf_counter()
        status = -1  # no answer: the sender still holds the instance (it would retry)
        if assoc.is_established:
            try:
                response = assoc.send_c_store(path)
                status = int(response.Status) if "Status" in response else -1
            except (RuntimeError, OSError, ValueError):
                pass
        statuses.append((path, status, time.perf_counter() - t0))
    if assoc.is_established:
        assoc.release()
    results.put((number, started, time.time(), statuses))


def send_all(port: int, instances: list[Instance], senders: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(senders + 1)
    results = context.Queue()
    shares = [[str(i.path) for i in instances[n::senders]] for n in range(senders)]
    processes = [
        context.Process(target=_sender, args=(port, shares[n], barrier, results, n))
        for n in range(senders)
    ]
    for process in processes:
        process.start()
    barrier.wait()  # every sender has imported pynetdicom: start the clock together
    collected: list[Any] = []
    while len(collected) < len(processes):
        try:
            collected.append(results.get(timeout=5))
        except queue.Empty:
            done = {r[0] for r in collected}
            dead = [n for n, p in enumerate(processes) if not p.is_alive() and n not in done]
            for number in dead:  # died without reporting: its instances got no answer
                now = time.time()
                collected.append((number, now, now, [(p, -1, 0.0) for p in shares[number]]))
    for process in processes:
        process.join(60)
    first = min(r[1] for r in collected)
    last = max(r[2] for r in collected)
    statuses = {path: status for r in collected for path, status, _ in r[3]}
    latencies = sorted(latency for r in collected for _, _, latency in r[3])
    return {"elapsed": last - first, "statuses": statuses, "latencies": latencies}


# --------------------------------------------------------------------------- servers


def plain_scp(folder: Path, ae_title: str = "SYNTHMARK") -> Any:
    from pynetdicom import AE, AllStoragePresentationContexts, evt
    from pynetdicom.events import Event

    folder.mkdir(parents=True, exist_ok=True)

    def on_store(event: Event) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        (folder / f"{uid}.dcm").write_bytes(event.encoded_dataset())
        return 0x0000

    ae = AE(ae_title=ae_title)
    ae.maximum_associations = 16
    ae.supported_contexts = AllStoragePresentationContexts
    return ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )


def _next_hop_main(folder: str, ports: Any, stop: Any) -> None:  # a spawned process
    server = plain_scp(Path(folder), "NEXT")
    ports.put(int(server.server_address[1]))
    stop.wait()
    server.shutdown()


class NextHop:
    """The forward mode's next hop: a plain storage SCP in its own process, as it would
    be on its own machine (in the gateway's process it would share its GIL)."""

    def __init__(self, folder: Path) -> None:
        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_next_hop_main, args=(str(folder), ports, self._stop)
        )
        self._process.start()
        self.port = int(ports.get(timeout=120))

    def stop(self) -> None:
        self._stop.set()
        self._process.join(60)


def run_mode(
    mode: str, instances: list[Instance], warmup: list[Instance], senders: int, work: Path
) -> dict[str, Any]:
    from synthmark.serve.dicom import ForwardTarget, Gateway, GatewayConfig

    store, quarantine, downstream = work / "store", work / "quarantine", work / "downstream"
    for folder in (store, quarantine, downstream):
        shutil.rmtree(folder, ignore_errors=True)
    next_hop = gateway = baseline = None
    if mode == "baseline":
        baseline = plain_scp(store)
        port = int(baseline.server_address[1])
    else:
        config = GatewayConfig(port=0, quarantine=quarantine, max_associations=16)
        if mode == "store":
            config = GatewayConfig(port=0, quarantine=quarantine, store=store)
        else:
            next_hop = NextHop(downstream)
            target = ForwardTarget("127.0.0.1", next_hop.port, "NEXT")
            config = GatewayConfig(port=0, quarantine=quarantine, forward=target)
        gateway = Gateway(config)
        gateway.start()
        port = gateway.address[1]
    try:
        # Unmeasured: the first association of a process pays for lazy imports (pydicom
        # encoders, pynetdicom's DIMSE machinery), which would penalise whichever mode ran
        # first.
        send_all(port, warmup, senders)
        sent = send_all(port, instances, senders)
    finally:
        if gateway is not None:
            gateway.stop()
        if baseline is not None:
            baseline.shutdown()
        if next_hop is not None:
            next_hop.stop()
    return check(mode, instances, sent, store, quarantine, downstream)


def check(
    mode: str,
    instances: list[Instance],
    sent: dict[str, Any],
    store: Path,
    quarantine: Path,
    downstream: Path,
) -> dict[str, Any]:
    accepted_folder = downstream if mode == "forward" else store
    on_disk = {p.stem for p in accepted_folder.glob("*.dcm")}
    quarantined = {p.stem for p in quarantine.glob("*.dcm")} if quarantine.exists() else set()
    reasons = {p.stem for p in quarantine.glob("*.json")} if quarantine.exists() else set()
    lost = wrong = unanswered = 0
    for instance in instances:
        status = sent["statuses"].get(str(instance.path))
        expected = 0 if mode == "baseline" else instance.expected
        if status is None or status == -1:
            unanswered += 1  # not lost (no Success was given) but not a decision either
        elif status != expected:
            wrong += 1
        if status == 0 and instance.uid not in on_disk:
            lost += 1  # Success was answered but the instance is not where it should be
        if status == SM501 and not (instance.uid in quarantined and instance.uid in reasons):
            lost += 1
    if mode != "baseline":
        leaked = {i.uid for i in instances if i.expected != 0} & on_disk
        wrong += len(leaked)  # a rejected instance must never reach the archive
    latencies = sent["latencies"]
    return {
        "mode": mode,
        "instances": len(instances),
        "answered": sum(1 for s in sent["statuses"].values() if s != -1),
        "accepted": sum(1 for s in sent["statuses"].values() if s == 0),
        "rejected": sum(1 for s in sent["statuses"].values() if s == SM501),
        "lost": lost,
        "unanswered": unanswered,
        "wrong": wrong,
        "elapsed": sent["elapsed"],
        "rate": len(instances) / sent["elapsed"],
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
    }


# --------------------------------------------------------------------------- report


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput, with lost and wrong summed over every run."""
    ordered = sorted(runs, key=lambda r: r["rate"])
    row = dict(ordered[len(ordered) // 2])
    row["lost"] = sum(r["lost"] for r in runs)
    row["wrong"] = sum(r["wrong"] for r in runs)
    row["unanswered"] = sum(r["unanswered"] for r in runs)
    row["rounds"] = len(runs)
    row["rates"] = [r["rate"] for r in runs]
    return row


def table(rows: list[dict[str, Any]], args: argparse.Namespace, load: tuple[float, ...]) -> str:
    base = next((r["rate"] for r in rows if r["mode"] == "baseline"), None)
    lines = [
        f"Command: `.venv/bin/python bench/gateway_bench.py --instances {args.instances} "
        f"--senders {args.senders} --modes {args.modes} --repeat {args.repeat}`  ",
        f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"**shared with other jobs** (load average at start {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f})",
        "",
        "| mode | instances | answered | accepted | rejected (0xC501) | lost | unanswered | wrong "
        "| wall s | instances/s (median) | vs baseline | all rounds | p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r['rate'] / base:.2f}x" if base else "-"
        lines.append(
            f"| {r['mode']} | {r['instances']} | {r['answered']} | {r['accepted']} | "
            f"{r['rejected']} | {r['lost']} | {r['unanswered']} | {r['wrong']} | "
            f"{r['elapsed']:.1f} | "
            f"{r['rate']:.1f} | {ratio} | {', '.join(f'{x:.1f}' for x in r['rates'])} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def write_out(path: Path, block: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else f"{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{block}{END}{tail}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--modes", default="baseline,store,forward")
    parser.add_argument("--repeat", type=int, default=1, help="Rounds (median reported).")
    parser.add_argument("--out", default="", help="Markdown file to update (bench markers).")
    parser.add_argument("--log", default="", help="Write the gateway's decision log here.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.log:
        handler = logging.FileHandler(args.log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in ("synthmark.gateway", "pynetdicom"):
            logging.getLogger(name).addHandler(handler)
        gateway_log = logging.getLogger("synthmark.gateway")
        gateway_log.setLevel(logging.INFO)
        gateway_log.propagate = False  # one line per instance goes to the file only
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="synthmark-gateway-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        (work / "warmup").mkdir()
        instances = make_instances(work, args.instances)
        warmup = make_instances(work / "warmup", 2 * args.senders)
        print(f"made {len(instances)} instances in {time.perf_counter() - t0:.1f} s", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {}
        # Modes interleaved round by round, so that load from other jobs on a shared
        # machine falls on every mode alike; the median round is reported.
        for round_number in range(args.repeat):
            for mode in args.modes.split(","):
                row = run_mode(mode, instances, warmup, args.senders, work)
                print(
                    f"round {round_number + 1} {mode}: {row['rate']:.1f} instances/s, "
                    f"lost {row['lost']}, wrong {row['wrong']}",
                    flush=True,
                )
                runs.setdefault(mode, []).append(row)
        rows = [median_row(mode_runs) for mode_runs in runs.values()]
    block = table(rows, args, load)
    print(block)
    if args.out:
        write_out(Path(args.out), block)
    return 0 if all(r["lost"] == r["wrong"] == r["unanswered"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
