"""`manage.py bench_iso --rows N`: the ISO 20022 files at volume, each in a process of its own
so that its peak memory is its own.

Writes a pain.001.001.09 of N transactions (10 PmtInf, UETRs, references), and measures:
its parse with the streaming XSD check alone; its validation by a real RQ worker (parse,
checks, rows stored); after two approvals and execution by a worker, its pain.002.001.10
report; and the debtor's camt.053.001.08 of the day (N entries, one batch booking), which is
then checked against the official XSD while streaming. Prints one JSON object as last line.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import BinaryIO, cast

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone
from lxml import etree

from accounts.identity.audit import Actor
from accounts.ledger import posting
from accounts.ledger.services import account_open, merchant_create
from accounts.models import Account, LedgerTransaction, Merchant
from batches import parsers, reports, services
from batches.models import Batch
from iso20022 import schemas
from statements import exports, selectors
from tools.management.commands.bench_batch import Command as BenchBatch

PAYEES = 1000
BLOCKS = 10


class _Counter:
    """A binary sink that counts what is written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def _peak_mb() -> float:
    """This process's own peak resident memory.

    Not getrusage's ru_maxrss: Linux carries the parent's high-water mark over exec into
    the child's (the phases read the bench process's 230 MB, whatever they used), while
    /proc's VmHWM is the address space's own since exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Command(BaseCommand):
    help = "Benchmark pain.001 validation, pain.002 and camt.053 at volume; prints one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        # Internal: one measured phase, run in a child process.
        parser.add_argument("--phase", choices=["parse", "pain002", "camt053"])
        parser.add_argument("--target", default="")

    def handle(self, *args, rows, phase, target, **options):
        if phase:
            self.stdout.write(json.dumps(self._phase(phase, target)))
            return
        bench = BenchBatch()
        redis_process = bench._ensure_redis()
        try:
            result = self._run(bench, rows)
        finally:
            if redis_process is not None:
                redis_process.terminate()
        self.stdout.write(json.dumps(result))

    # --- the phases, each in its own process ---------------------------------------------------

    def _phase(self, phase: str, target: str) -> dict:
        started = time.perf_counter()
        if phase == "parse":
            with open(target, "rb") as stream:
                count = sum(1 for _ in parsers.parse(stream, max_rows=10**6))
            return {"seconds": time.perf_counter() - started, "rows": count, "peak_mb": _peak_mb()}
        if phase == "pain002":
            out = _Counter()
            reports.write_result_xml(Batch.objects.get(pk=target), out)
            return {
                "seconds": time.perf_counter() - started,
                "bytes": out.size,
                "peak_mb": _peak_mb(),
            }
        account = Account.objects.get(number=target)
        today = timezone.localdate()
        with tempfile.NamedTemporaryFile("wb", suffix=".xml", delete=False) as handle:
            exports.write_camt(
                cast(BinaryIO, handle), account=account, span=selectors.period(today, today)
            )
        return {
            "seconds": time.perf_counter() - started,
            "path": handle.name,
            "peak_mb": _peak_mb(),
        }

    def _child(self, phase: str, target: str) -> dict:
        done = subprocess.run(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "bench_iso",
             "--phase", phase, "--target", target],
            check=True,
            capture_output=True,
            text=True,
        )  # fmt: skip
        return json.loads(done.stdout.strip().splitlines()[-1])

    # --- the run -------------------------------------------------------------------------------

    def _run(self, bench: BenchBatch, rows: int) -> dict:
        import django_rq

        actor = Actor.system("bench_iso")
        run_id = f"{int(time.time())}"
        merchant = Merchant.objects.filter(name="Bench ISO").first() or merchant_create(
            name="Bench ISO", actor=actor
        )
        debtor = account_open(
            currency="EUR", merchant_id=merchant.pk, number=f"BENCHISO{run_id}", actor=actor
        )
        posting.transfer(
            debtor_id=posting.funding_account("EUR").pk,
            creditor_id=debtor.pk,
            amount=rows * 100_000,
            currency="EUR",
            kind=LedgerTransaction.Kind.FUNDING,
        )
        payees = [
            Account.objects.filter(number=f"BENCHPAYEE{index:05d}").first()
            or account_open(currency="EUR", number=f"BENCHPAYEE{index:05d}", actor=actor)
            for index in range(PAYEES)
        ]
        from accounts.identity import roles

        maker = bench._user("bench-maker", roles.OPERATOR)
        checkers = [bench._user(f"bench-checker{i}", roles.APPROVER) for i in (1, 2)]
        path = self._write_pain001(rows, debtor.number, [p.number for p in payees], run_id)
        file_mb = round(os.path.getsize(path) / 1024 / 1024, 1)

        parse = self._child("parse", path)
        queue = django_rq.get_queue("batches")
        queue.empty()
        from django.core.files import File

        with open(path, "rb") as handle:
            batch = services.batch_upload(
                merchant=merchant,
                upload=File(handle, name="bench.xml"),
                actor=Actor.for_user(maker),
                uploaded_by=maker,
            )
        os.unlink(path)
        validation_seconds = bench._work(queue, "batches.jobs.validate_batch", batch)
        batch.refresh_from_db()
        if batch.status != Batch.Status.AWAITING_APPROVAL:
            raise RuntimeError(f"validation ended {batch.status}: {batch.error_message}")
        validation_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        for checker in checkers:
            services.batch_approve(
                batch_id=batch.id,
                approver=checker,
                confirm_mismatches=True,  # synthetic payee names: VoP mismatches, confirmed
                actor=Actor.for_user(checker),
                otp_token=bench._fresh_code(checker),
            )
        execution_seconds = bench._work(queue, "batches.jobs.execute_batch", batch)
        batch.refresh_from_db()

        pain002 = self._child("pain002", str(batch.pk))
        camt = self._child("camt053", debtor.number)
        started = time.perf_counter()
        entries, valid = self._check_camt(camt["path"])
        check_seconds = time.perf_counter() - started
        camt_mb = round(os.path.getsize(camt["path"]) / 1024 / 1024, 1)
        os.unlink(camt["path"])
        return {
            "rows": rows,
            "pain001_mb": file_mb,
            "pain001_parse_xsd_seconds": round(parse["seconds"], 2),
            "pain001_parse_peak_memory_mb": parse["peak_mb"],
            "pain001_validation_seconds": round(validation_seconds, 2),
            "pain001_validation_worker_peak_mb": round(validation_peak, 1),
            "execution_seconds": round(execution_seconds, 2),
            "batch_status": batch.status,
            "pain002_rows": batch.item_count,
            "pain002_seconds": round(pain002["seconds"], 2),
            "pain002_mb": round(pain002["bytes"] / 1024 / 1024, 1),
            "pain002_peak_memory_mb": pain002["peak_mb"],
            "camt053_entries": entries,
            "camt053_seconds": round(camt["seconds"], 2),
            "camt053_mb": camt_mb,
            "camt053_peak_memory_mb": camt["peak_mb"],
            "camt053_xsd_valid": valid,
            "camt053_xsd_check_seconds": round(check_seconds, 2),
        }

    def _check_camt(self, path: str) -> tuple[int, bool]:
        """Stream the statement through the official XSD; count its transactions."""
        schema = schemas.schema("camt.053.001.08")
        tag = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.08}TxDtls"
        count = 0
        try:
            for _, element in etree.iterparse(path, events=("end",), tag=tag, schema=schema):
                count += 1
                element.clear()
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
        except etree.XMLSyntaxError:
            return count, False
        return count, True

    def _write_pain001(self, rows: int, debtor: str, payees: list[str], run_id: str) -> str:
        today = timezone.localdate().isoformat()
        per_block = rows // BLOCKS
        handle = tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, encoding="utf-8")
        with handle:
            write = handle.write
            total = sum(100 + row % 5000 for row in range(1, rows + 1))
            write(
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">'
                f"<CstmrCdtTrfInitn><GrpHdr><MsgId>BENCH-ISO-{run_id}</MsgId>"
                f"<CreDtTm>{today}T06:00:00Z</CreDtTm><NbOfTxs>{rows}</NbOfTxs>"
                f"<CtrlSum>{total // 100}.{total % 100:02d}</CtrlSum>"
                "<InitgPty><Nm>Bench ISO</Nm></InitgPty></GrpHdr>\n"
            )
            row = 0
            for block in range(BLOCKS):
                count = per_block if block < BLOCKS - 1 else rows - per_block * (BLOCKS - 1)
                write(
                    f"<PmtInf><PmtInfId>BENCH-{run_id}-{block}</PmtInfId><PmtMtd>TRF</PmtMtd>"
                    f"<BtchBookg>true</BtchBookg><NbOfTxs>{count}</NbOfTxs>"
                    f"<ReqdExctnDt><Dt>{today}</Dt></ReqdExctnDt><Dbtr><Nm>Bench ISO</Nm></Dbtr>"
                    f"<DbtrAcct><Id><Othr><Id>{debtor}</Id></Othr></Id></DbtrAcct>"
                    "<DbtrAgt><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></DbtrAgt>\n"
                )
                buffer = io.StringIO()
                for _ in range(count):
                    row += 1
                    minor = 100 + row % 5000
                    buffer.write(
                        f"<CdtTrfTxInf><PmtId><InstrId>I{row}</InstrId>"
                        f"<EndToEndId>E{run_id}-{row}</EndToEndId><UETR>{uuid.uuid4()}</UETR>"
                        f'</PmtId><Amt><InstdAmt Ccy="EUR">{minor // 100}.{minor % 100:02d}'
                        f"</InstdAmt></Amt><CdtrAgt><FinInstnId><BICFI>INGBNL2AXXX</BICFI>"
                        f"</FinInstnId></CdtrAgt><Cdtr><Nm>Payee {row % PAYEES}</Nm></Cdtr>"
                        f"<CdtrAcct><Id><Othr><Id>{payees[row % len(payees)]}</Id></Othr></Id>"
                        f"</CdtrAcct><RmtInf><Ustrd>salary {run_id} {row}</Ustrd></RmtInf>"
                        "</CdtTrfTxInf>\n"
                    )
                write(buffer.getvalue())
                write("</PmtInf>\n")
            write("</CstmrCdtTrfInitn></Document>\n")
        return handle.name
