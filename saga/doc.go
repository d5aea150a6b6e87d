// Package saga runs durable multi-step operations. It owns the run record
// (kind "saga" in the store), the executor that moves runs, and the rules of
// retry, undo and resume; it must not know what the steps do: a step is a
// name and two functions, Do and Undo, supplied by the caller (mobility) for
// a registered kind, and the run's Data is opaque JSON that only the steps
// read and write.
//
// # How a run moves
//
// Submit builds the plan (Register's function of the run) and writes the
// record — the run running, its first step doing, the others pending —
// synced, before any step is called. The executor then runs the steps one
// by one in its own goroutine and context; before each later Do it writes
// the step doing (with the previous step's done in the same write), except
// before a Local step, which touches no device; so a run of n steps, l of
// them Local, costs n − l + 1 synced writes when all goes well (the last
// write carries the last steps' done and the run's done). Exec.Save writes
// the run's data, synced, before it returns.
//
// A transient error (errclass) from Do is recorded and retried after an
// exponential backoff, calling Do again, which must re-read the device's
// truth. A final error, a not-found error, or a transient one that outlived
// the attempts turns the run undoing: the failed step and every done step
// before it are undone in reverse (the failed step too, since it may have
// partly applied), each Undo retried like Do, a NotFound from Undo counting
// as success. The run ends undone, with LastError saying why and Wait
// returning a *RunError that carries the original error. If an undo still
// fails after its retries the run ends failed, with Action saying what a
// person must do; the run keeps its key until Retry undoes it.
//
//	running ──all steps done──▶ done
//	   │ step failed, or Abort
//	   ▼
//	undoing ──all undone──▶ undone
//	   │ an undo still fails
//	   ▼
//	failed ──Retry──▶ undoing
//
// # Abort
//
// Abort stops a running run on request. It first writes the run undoing,
// with AbortRequested set and LastError saying it was aborted (class final),
// synced; then it cancels the context of the step in progress with the cause
// ErrAborted. Once that call returns, whatever it returns, the run undoes it
// and the done steps as for a final error. A crash after the abort's write
// resumes the run as undoing, so an aborted run never goes forward again.
// Only a running run can be aborted (ErrNotRunning otherwise).
//
// # Crashes
//
// Run resumes every unfinished run at start: a running run from its first
// step not done, by calling that step's Do again (it may have acted before
// the crash); an undoing run by continuing its undo. When Run's context
// ends the executor writes nothing more, so the record stays exactly as a
// kill -9 would have left it, and the next start resumes from it. Steps
// must therefore be idempotent and read the device before acting: the
// executor guarantees a step's effect is explained by a record that says
// the step is doing, done or undoing, never that nothing happened.
//
// One Executor writes the runs of a store; at most one run holds a
// (kind, key) at a time (running, undoing or failed).
package saga
