using FedMM.Cli;
using FedMM.Learning.Runtime;

// Before anything loads libtorch: libgomp reads its wait policy once, at load.
OpenMpWaitPolicy.Apply();
return await CliApp.RunAsync(args);
