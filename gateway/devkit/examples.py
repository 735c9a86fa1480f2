"""The bundled example applications, rendered end to end (the demo's main job for now)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gateway.render.pipeline import Pipeline
from signing import KeyDirectory, verify


def bundled_examples() -> list[Path]:
    return sorted(Path(str(resources.files("gateway") / "data" / "examples")).glob("*.json"))


@dataclass
class ExampleRow:
    example: str
    region: str
    agency: str
    service: str
    case_ref: str
    fields: int
    documents: int
    pending: int
    size: int
    verified: bool

    def cells(self) -> list[str]:
        return [
            self.example,
            self.region,
            self.agency,
            self.service,
            self.case_ref,
            str(self.fields),
            str(self.documents),
            str(self.pending),
            str(self.size),
            "[green]verified[/green]" if self.verified else "[red]FAILED[/red]",
        ]


def run_examples(keys_dir: Path, out_dir: Path) -> list[ExampleRow]:
    keys = KeyDirectory(keys_dir)
    if not keys.trust_file.exists():
        keys.init()
    key, trust = keys.gateway_key(), keys.trust_store()
    pipeline = Pipeline()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in bundled_examples():
        app = pipeline.accept(path.read_bytes())
        rendered = pipeline.render(app, key)
        data = rendered.to_bytes()
        (out_dir / f"{path.stem}.xml").write_bytes(data)
        fmt = pipeline.formats[app.target_region]
        verified = verify(data, trust, fmt.header, expected_sender="GD-GBA-GW")
        sub = rendered.translation.submission
        rows.append(
            ExampleRow(
                example=path.stem,
                region=app.target_region,
                agency=rendered.case.agency,
                service=sub.service.service_code,
                case_ref=rendered.case.case_ref,
                fields=len(sub.particulars),
                documents=len(sub.documents),
                pending=len(sub.deficiencies),
                size=len(data),
                verified=verified.sender == "GD-GBA-GW",
            )
        )
    return rows
