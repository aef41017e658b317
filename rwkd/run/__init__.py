"""The parts a run is built from: config to objects (assemble), resumable starts and folders, preemption,
export, evaluation of a student, sweep plans."""
