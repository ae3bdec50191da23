using FedMM.Cli;
using FedMM.Learning.Runtime;

// Before anything loads libtorch: libgomp reads its wait policy once, at load.
OpenMpWaitPolicy.Apply();
// Then, for the commands that run models and before any does: MKL's sgemm picks its kernels once,
// by CPU vendor unless told otherwise. The others need not pay for loading libtorch (about a second).
// glibc keeps freed activations in its heap for the next forward instead of unmapping them.
if (args.Length > 0 && args[0] is "site" or "experiment" or "privacy")
{
    MallocThresholds.Apply();
    MklCpuDispatch.Apply();
}
return await CliApp.RunAsync(args);
