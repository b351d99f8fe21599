"""`outdial balance add|show`, `outdial secret put`, `outdial dial-queue redrive`, and the
balance rule of `outdial config apply` (SPEC §11, §13), against moto."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.balances import Balances
from outdial.adapters.calls_store import CallsStore
from outdial.adapters.gateways.secrets import GatewaySecrets
from outdial.cli import main, operator
from outdial.settings import get_settings
from tests.conftest import config_document


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "outdial.json"
    path.write_text(json.dumps(document))
    return path


def shown(capsys: pytest.CaptureFixture[str], account: str = "acme") -> Any:
    assert main(["balance", "show", account]) == 0
    return json.loads(capsys.readouterr().out)["balance"]


class TestConfigApplyKeepsRunningBalances:
    def test_a_new_account_opens_with_the_files_balance(
        self, resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["config", "apply", "--local", str(write(tmp_path, config_document()))]) == 0
        assert "warning" not in capsys.readouterr().err
        assert shown(capsys) == 1000

    def test_an_existing_account_keeps_its_balance_with_a_warning(
        self, resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given an account whose balance has 5 reserved (995)
        path = write(tmp_path, config_document())
        main(["config", "apply", "--local", str(path)])
        assert Balances().add("acme", Decimal(-5)) == 995  # as a reservation takes it
        capsys.readouterr()
        # When the same file (balance 1000) is applied again
        assert main(["config", "apply", "--local", str(path)]) == 0
        # Then the balance stays 995 and a warning says the file's was ignored
        err = capsys.readouterr().err
        assert "warning: $.accounts[0].balance" in err and "995" in err
        assert shown(capsys) == 995
        # And giving the reservation back ends where the money really is: 1000, not 1001
        CallsStore().refund("acme", Decimal(5), "CALL#c1")
        assert shown(capsys) == 1000

    def test_other_settings_of_an_existing_account_are_applied(
        self, resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        document = config_document()
        main(["config", "apply", "--local", str(write(tmp_path, document))])
        document["accounts"][0]["cost-per-call"] = 3
        del document["accounts"][0]["balance"]
        assert main(["config", "apply", "--local", str(write(tmp_path, document))]) == 0
        assert "warning" not in capsys.readouterr().err  # no balance in the file: nothing ignored
        from outdial.adapters.config_store import ConfigStore

        view = ConfigStore().get_flow_view(document["flows"][0]["flow-id"])
        assert view is not None and view.account.cost_per_call == 3
        assert shown(capsys) == 1000


class TestBalance:
    def test_add_and_take(self, configured: Any, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["balance", "add", "acme", "250"]) == 0
        assert json.loads(capsys.readouterr().out) == {"account-id": "acme", "balance": 1250}
        assert main(["balance", "add", "acme", "-0.5"]) == 0
        assert json.loads(capsys.readouterr().out)["balance"] == 1249.5
        assert shown(capsys) == 1249.5

    def test_taking_more_than_there_is_is_refused(
        self, configured: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["balance", "add", "acme", "-1001"]) == 1
        assert "cannot take 1001" in capsys.readouterr().err
        assert shown(capsys) == 1000

    def test_unknown_account(self, configured: Any, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["balance", "add", "nobody", "5"]) == 1
        assert "no account 'nobody'" in capsys.readouterr().err
        assert main(["balance", "show", "nobody"]) == 1
        assert "no account 'nobody'" in capsys.readouterr().err

    def test_amount_must_be_a_number(self, configured: Any) -> None:
        with pytest.raises(SystemExit) as exit_:
            main(["balance", "add", "acme", "lots"])
        assert exit_.value.code == 2


class TestSecretPut:
    def test_creates_then_updates(self, resources: Any, capsys: pytest.CaptureFixture[str]) -> None:
        name = "outdial/gateways/gw"
        assert main(["secret", "put", name, '{"token": "t1", "event-secret": "e1"}']) == 0
        assert GatewaySecrets().get(name).token == "t1"
        assert main(["secret", "put", name, '{"token": "t2", "event-secret": "e1"}']) == 0
        assert GatewaySecrets().get(name).token == "t2"
        assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {
            "name": name,
            "written": True,
        }

    @pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
    def test_not_a_json_object(
        self, resources: Any, capsys: pytest.CaptureFixture[str], text: str
    ) -> None:
        assert main(["secret", "put", "outdial/gateways/gw", text]) == 1
        assert "JSON" in capsys.readouterr().err


class TestDialQueueRedrive:
    def test_moves_every_dead_letter_back(
        self, resources: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given 13 messages in the dial dead-letter queue
        sqs = aws.client("sqs")
        dlq = resources.env["OUTDIAL_DIAL_DLQ_URL"]
        bodies = [json.dumps({"call-ids": [f"call-{i}"]}) for i in range(13)]
        for body in bodies:
            sqs.send_message(QueueUrl=dlq, MessageBody=body)
        # When redriven
        assert main(["dial-queue", "redrive"]) == 0
        assert json.loads(capsys.readouterr().out) == {"moved": 13, "outcomes-moved": 0}
        # Then they are all on the dial queue, and none is left behind
        moved: list[str] = []
        while batch := sqs.receive_message(
            QueueUrl=get_settings().dial_queue_url, MaxNumberOfMessages=10
        ).get("Messages"):
            moved += [m["Body"] for m in batch]
        assert sorted(moved) == sorted(bodies)
        assert "Messages" not in sqs.receive_message(QueueUrl=dlq)

    def test_dial_queue_found_by_name(
        self, resources: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.delenv("OUTDIAL_DIAL_QUEUE_URL")
        get_settings.cache_clear()
        monkeypatch.delenv("OUTDIAL_OUTCOME_QUEUE_URL")
        get_settings.cache_clear()
        # And a leg outcome in the outcome dead-letter queue
        sqs = aws.client("sqs")
        sqs.send_message(QueueUrl=resources.env["OUTDIAL_OUTCOME_DLQ_URL"], MessageBody="{}")
        assert main(["dial-queue", "redrive"]) == 0
        assert json.loads(capsys.readouterr().out) == {"moved": 0, "outcomes-moved": 1}

    def test_a_deployment_without_an_outcome_queue_redrives_the_dial_queue(
        self, resources: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given no outcome queue, configured or by name (outcomes then go to the dial queue)
        sqs = aws.client("sqs")
        monkeypatch.setattr(operator, "DEFAULT_OUTCOME_QUEUE", "outdial-no-such-queue")
        monkeypatch.delenv("OUTDIAL_OUTCOME_QUEUE_URL")
        get_settings.cache_clear()
        sqs.send_message(QueueUrl=resources.env["OUTDIAL_DIAL_DLQ_URL"], MessageBody="{}")
        # When redriven / Then the dial queue's dead letters move back, and nothing fails
        assert main(["dial-queue", "redrive"]) == 0
        assert json.loads(capsys.readouterr().out) == {"moved": 1, "outcomes-moved": 0}

    def test_moves_the_outcome_queues_dead_letters_back(
        self, resources: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given leg outcomes in the outcome dead-letter queue and a dial message in the dial one
        sqs = aws.client("sqs")
        bodies = [
            json.dumps({"gateway-id": "sim", "event": {"leg-id": f"l-{i}"}}) for i in range(3)
        ]
        for body in bodies:
            sqs.send_message(QueueUrl=resources.env["OUTDIAL_OUTCOME_DLQ_URL"], MessageBody=body)
        sqs.send_message(QueueUrl=resources.env["OUTDIAL_DIAL_DLQ_URL"], MessageBody="{}")
        # When redriven
        assert main(["dial-queue", "redrive"]) == 0
        # Then each went back to its own queue, the counts reported apart
        assert json.loads(capsys.readouterr().out) == {"moved": 1, "outcomes-moved": 3}
        moved = sqs.receive_message(
            QueueUrl=get_settings().outcome_queue_url, MaxNumberOfMessages=10
        )["Messages"]
        assert sorted(m["Body"] for m in moved) == sorted(bodies)
