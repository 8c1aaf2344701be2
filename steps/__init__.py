"""The lab's steps as plain code: what each one needs, runs, produces, and how to tell it worked. No UI imports."""
