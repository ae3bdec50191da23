using System.Runtime.InteropServices;

namespace FedMM.Learning.Runtime;

/// <summary>
/// Keeps the memory of freed tensors in glibc's heap, so that the next forward pass reuses it
/// instead of asking the kernel for fresh zeroed pages, in every FedMM process that computes with libtorch.
/// </summary>
/// <remarks>
/// libtorch allocates every activation with the C library's malloc and frees it when the tensor is
/// disposed. glibc serves a block above its mmap threshold (128 KiB at first, raised as such blocks
/// are freed, to 32 MiB at most) with a fresh mapping and returns it on free, and it gives the top
/// of its heap back to the kernel once more than twice the threshold is free there. A frozen
/// ResNet-18 forward on 32 images of 128 px frees tens of MB of activations per layer, so each pass
/// faulted its memory in again page by page: perf put about a fifth of the process's samples in
/// the kernel's page-fault path (exc_page_fault, clear_page_erms, munmap, brk). Setting the mmap
/// threshold to its maximum (32 MiB) and the trim threshold to <see cref="TrimThreshold"/> keeps
/// that memory in the heap between passes (about a quarter less CPU time per forward on the AMD
/// EPYC of docs/BENCHMARKS.md). The cost is resident memory: up to <see cref="TrimThreshold"/>
/// of freed heap stays with the process after a peak. Blocks above 32 MiB are still mapped and
/// returned. glibc only; where <c>MALLOC_MMAP_THRESHOLD_</c>, <c>MALLOC_TRIM_THRESHOLD_</c> or
/// <c>GLIBC_TUNABLES</c> is set, or <c>FEDMM_MALLOC_THRESHOLDS=0</c>, nothing changes.
/// Entry points that run models call it first thing, with <see cref="OpenMpWaitPolicy.Apply"/>.
/// </remarks>
public static partial class MallocThresholds
{
    /// <summary>Environment variable: "0" keeps glibc's own thresholds.</summary>
    public const string Variable = "FEDMM_MALLOC_THRESHOLDS";

    /// <summary>glibc's largest mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).</summary>
    public const int MmapThreshold = 32 * 1024 * 1024;

    /// <summary>Free memory at the top of the heap that glibc keeps instead of returning it.</summary>
    public const int TrimThreshold = 256 * 1024 * 1024;

    private const int MTrimThreshold = -1;
    private const int MMmapThreshold = -3;

    private static readonly Lock Gate = new();
    private static string? outcome;

    /// <summary>Sets glibc's mmap and trim thresholds once per process; returns what was done, for logs.</summary>
    public static string Apply()
    {
        lock (Gate)
        {
            return outcome ??= ApplyOnce();
        }
    }

    private static string ApplyOnce()
    {
        if (Environment.GetEnvironmentVariable(Variable) == "0") return $"malloc thresholds kept ({Variable}=0)";
        if (!OperatingSystem.IsLinux()) return "malloc thresholds unchanged (not Linux)";
        foreach (var given in new[] { "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES" })
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(given))) return $"malloc thresholds unchanged ({given} is set)";
        try
        {
            // mallopt answers 1 on success; musl's stub and out-of-range values answer 0.
            if (MallOpt(MMmapThreshold, MmapThreshold) != 1 || MallOpt(MTrimThreshold, TrimThreshold) != 1)
                return "malloc thresholds unchanged (mallopt refused them: not glibc?)";
        }
        catch (EntryPointNotFoundException)
        {
            return "malloc thresholds unchanged (no mallopt in this C library)";
        }
        return $"malloc keeps freed memory (mmap threshold {MmapThreshold >> 20} MiB, trim threshold {TrimThreshold >> 20} MiB)";
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);
}
