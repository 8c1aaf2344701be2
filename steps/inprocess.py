"""Plans and verifies of the steps that run inside the front end (check, data, upload): the protocol's other half.

They have no argv (the runner never starts them); the plan says what the step reads and writes, and the command a
person types to do it headless. `blocked` stays empty: each of these steps says itself, on its pane, what it
needs, and the step list shows them "ready" until they have run. Nothing here runs a probe or touches Azure.
"""

from __future__ import annotations

from .data import heldout_path, train_path
from .lab import Lab, StepPlan
from .runstate import DONE, StepState

CHECK_EXPLAIN = ("Checks this machine for the chosen profile: Python, packages, GPU and drivers, disk, memory and "
                 "the Azure sign-in, and says how to fix what is missing. Headless: `olive-lab check`.")
DATA_EXPLAIN = ("Reads the dataset, reports bad rows with their line numbers, and splits it into the rows "
                "fine-tuning trains on and the held-out rows evaluation scores. Headless: `olive-lab data`.")
UPLOAD_EXPLAIN = ("Registers the optimized model folder as a model in an Azure ML workspace (the lab's "
                  "`az ml model create`). Headless: `olive-lab upload`.")


def plan_check(lab: Lab) -> StepPlan:
    return StepPlan(step="check", title="Check the machine", explain=CHECK_EXPLAIN,
                    settings={"profile": lab.profile.name})


def verify_check(lab: Lab) -> list[str]:
    """The check leaves nothing on disk to verify: its report is made fresh each time it runs."""
    return []


def plan_data(lab: Lab) -> StepPlan:
    return StepPlan(step="data", title="Inspect and split the dataset", explain=DATA_EXPLAIN, inputs=(lab.dataset,),
                    outputs={"train": train_path(lab), "heldout": heldout_path(lab)})


def verify_data(lab: Lab) -> list[str]:
    """The split the fine-tune and evaluate steps read is written (the finetune pre-flight writes it too)."""
    return [f"{path} is missing: inspect the dataset (`olive-lab data`) or run the lab to write it"
            for path in plan_data(lab).outputs.values() if not path.is_file()]


def plan_upload(lab: Lab) -> StepPlan:
    from .optimize import model_folder

    return StepPlan(step="upload", title="Upload to Azure ML", explain=UPLOAD_EXPLAIN, inputs=(model_folder(lab),))


def verify_upload(lab: Lab) -> list[str]:
    """Uploaded means the work folder's record says so (`.olive-lab/state/upload.json`, written by the upload)."""
    state = StepState.load(lab.workspace, "upload")
    return [] if state.status == DONE else [f"not uploaded yet (last upload: {state.status})"]
