"""The kill campaign, reproducible: kill -9 and SIGTERM `veille run` during polls and during
delivery, against a loopback feed server and the loopback Bot API; prints counts in JSON.

    .venv/bin/python bench/chaos.py [--feeds 200] [--kills 5] [--sigterms 3]
                                    [--messages 600] [--delivery-kills 4]

A control run without kills goes first, in the same session (the baseline): the campaign's
counts are compared with it (`lost_vs_control`, `seconds_vs_control`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.chaos import Campaign, delivery_phase, poll_phase


def main() -> None:
    """Run the control, then the campaign; print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--sigterms", type=int, default=3)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--chats", type=int, default=60)
    parser.add_argument("--delivery-kills", type=int, default=4)
    parser.add_argument("--models", type=Path, help="a trained model folder (default: train)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veille-chaos-") as tmp:
        root = Path(tmp)
        models = args.models
        if models is None:
            from classifiers.train import train

            models = root / "models"
            train(models, measure=False)
        models = models.resolve()
        results = {}
        with Campaign(root / "control", models, feeds=args.feeds, items=args.items) as camp:
            control = poll_phase(camp, kills=0, sigterms=0)
        with Campaign(root / "polls", models, feeds=args.feeds, items=args.items) as camp:
            polls = poll_phase(camp, kills=args.kills, sigterms=args.sigterms)
        with Campaign(root / "delivery", models, feeds=0) as camp:
            camp.start_service(VEILLE_TAGGING="off")
            camp.wait_log("service started", 300)
            camp.stop_service(15)
            delivery = delivery_phase(
                camp, messages=args.messages, chats=args.chats, kills=args.delivery_kills
            )
        results = {
            "control": control.as_dict(),
            "polls": polls.as_dict(),
            "delivery": delivery.as_dict(),
            "lost_vs_control": polls.lost - control.lost,
            "seconds_vs_control": round(polls.seconds / max(control.seconds, 0.1), 2),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
