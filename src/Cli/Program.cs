using FedMM.Cli;

return await CliApp.RunAsync(args);
