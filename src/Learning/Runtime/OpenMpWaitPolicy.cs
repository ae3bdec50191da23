using System.Runtime.InteropServices;

namespace FedMM.Learning.Runtime;

/// <summary>
/// Chooses how idle OpenMP threads wait, for libtorch's libgomp in every FedMM process
/// (and the benchmark references, which inherit the environment).
/// </summary>
/// <remarks>
/// libgomp's default lets an idle thread spin for a long time before it sleeps. On a machine whose
/// cores are shared with other processes the spinning thread holds a core the working one needs,
/// and a 2-thread training step measured 10 to 20 times slower than with passive waiting, by an
/// amount that followed the load rather than the code. libgomp reads the variable once, when it is
/// loaded, so it must be in the native environment before the first TorchSharp call.
/// </remarks>
public static partial class OpenMpWaitPolicy
{
    private const string Variable = "OMP_WAIT_POLICY";

    /// <summary>Sets OMP_WAIT_POLICY=PASSIVE unless the caller set it; returns the policy in force.</summary>
    public static string Apply()
    {
        string? given = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrEmpty(given)) return given;
        // .NET keeps its own copy of the environment on Unix; libgomp reads the C library's.
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            if (SetEnv(Variable, "PASSIVE", 1) != 0)
                throw new InvalidOperationException($"setenv({Variable}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
        Environment.SetEnvironmentVariable(Variable, "PASSIVE");
        return "PASSIVE";
    }

    // Runs when the library is first used, so every FedMM process gets passive waiting even when
    // its entry point does not call Apply itself; entry points still call it first thing, before
    // anything else can load libtorch.
    // A library module initializer on purpose: libtorch must not start before the variable is set,
    // and the library cannot know which entry point (tests, tools, services) loads it first.
#pragma warning disable CA2255
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void ApplyOnLoad() => Apply();
#pragma warning restore CA2255

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
