using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using TorchSharp;

namespace FedMM.Learning.Runtime;

/// <summary>
/// Lets the MKL inside libtorch choose its matrix-multiply kernels by what an AMD CPU supports
/// (AVX2, AVX-512) rather than by its vendor, in every FedMM process that computes with libtorch.
/// </summary>
/// <remarks>
/// <para>
/// libtorch's CPU build links Intel MKL statically, and every float32 <c>Linear</c> and
/// <c>matmul</c> goes through MKL's sgemm. MKL picks its kernels once per process: on a CPU whose
/// vendor is not "GenuineIntel" it takes its generic branch whatever the CPU supports, and no
/// environment variable changes that (<c>MKL_ENABLE_INSTRUCTIONS=AVX512</c> and
/// <c>MKL_CBWR=AVX512</c> were both measured: still <c>mkl_blas_def_sgemm_kernel_0_zen</c>).
/// On the 2-core AMD EPYC (Zen 5, AVX-512) of docs/BENCHMARKS.md a frozen MiniLM-L6 forward spent
/// twice the CPU time in that kernel that PyTorch with OpenBLAS spent in its AVX-512 one.
/// </para>
/// <para>
/// MKL asks <c>mkl_serv_intel_cpu_true</c> (exported by libtorch_cpu.so) whether the CPU is an
/// Intel one and keeps the answer in a word of its own data, which that function reads first:
/// <c>mov eax, [rip + d]; test eax, eax; js compute; ret</c>. <see cref="Apply"/> decodes that
/// instruction, checks the word still says "not asked yet" (−1), and stores 1 in it before MKL has
/// chosen; MKL then checks the CPU's features itself, as it does on an Intel CPU, and takes the
/// AVX-512 (or AVX2) kernels the CPU has. Where the code is not exactly that (another libtorch,
/// another MKL), where MKL has already chosen, or where the CPU is not an AMD one, nothing is
/// written. <c>FEDMM_MKL_FEATURE_DISPATCH=0</c> leaves MKL's own choice. Results stay within
/// float32 rounding of the generic kernels (another summation order), not bit for bit.
/// </para>
/// <para>
/// Process-wide and one-way: entry points call it first thing, after
/// <see cref="OpenMpWaitPolicy.Apply"/> and before any model runs.
/// </para>
/// </remarks>
public static partial class MklCpuDispatch
{
    /// <summary>Environment variable: "0" keeps MKL's vendor-based choice.</summary>
    public const string Variable = "FEDMM_MKL_FEATURE_DISPATCH";

    private const string Library = "libtorch_cpu.so";
    private const string VendorCheck = "mkl_serv_intel_cpu_true";
    private const string Detect = "mkl_serv_cpu_detect";

    private static readonly Lock Gate = new();
    private static string? outcome;

    /// <summary>
    /// Makes MKL dispatch on CPU features on an AMD CPU (once per process; later calls return the
    /// first outcome). Loads libtorch if it is not loaded yet. Returns what was done, for logs.
    /// </summary>
    public static string Apply()
    {
        lock (Gate)
        {
            return outcome ??= ApplyOnce();
        }
    }

    private static string ApplyOnce()
    {
        if (Environment.GetEnvironmentVariable(Variable) == "0") return $"MKL vendor dispatch kept ({Variable}=0)";
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64 || !X86Base.IsSupported)
            return "MKL dispatch unchanged (not Linux x64)";
        string vendor = CpuVendor();
        if (vendor != "AuthenticAMD") return $"MKL dispatch unchanged ({vendor} CPU)";

        torch.InitializeDeviceType(DeviceType.CPU);
        if (!NativeLibrary.TryLoad(Library, out var handle))
            return $"MKL dispatch unchanged ({Library} is not loaded)";
        try
        {
            if (!NativeLibrary.TryGetExport(handle, VendorCheck, out var check) || !NativeLibrary.TryGetExport(handle, Detect, out var detect))
                return $"MKL dispatch unchanged ({Library} exports no {VendorCheck}: libtorch without MKL?)";
            var code = new byte[CachedAnswerCode.Length];
            Marshal.Copy(check, code, 0, code.Length);
            if (CachedAnswerOffset(code) is not { } offset)
                return $"MKL dispatch unchanged ({VendorCheck} is not the code this was written for: {Convert.ToHexString(code)})";
            nint cached = check + (nint)offset;
            int answer = Marshal.ReadInt32(cached);
            if (answer != -1)
                return $"MKL dispatch unchanged (MKL had already asked the vendor: {answer})";
            Marshal.WriteInt32(cached, 1);
            int path = CpuDetect(detect);
            return $"MKL dispatches on CPU features on this AMD CPU (code path {path})";
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }

    /// <summary>
    /// The bytes <c>mkl_serv_intel_cpu_true</c> starts with, 0x00 where the displacement goes:
    /// <c>8B 05 d32</c> (mov eax, [rip + d32]), <c>85 C0</c> (test eax, eax), <c>78 01</c> (js +1), <c>C3</c> (ret).
    /// </summary>
    internal static ReadOnlySpan<byte> CachedAnswerCode => [0x8B, 0x05, 0, 0, 0, 0, 0x85, 0xC0, 0x78, 0x01, 0xC3];

    /// <summary>
    /// Where, from the function's first byte, the word holding MKL's cached vendor answer lies, if
    /// <paramref name="code"/> is exactly <see cref="CachedAnswerCode"/> with some displacement; otherwise null.
    /// </summary>
    internal static long? CachedAnswerOffset(ReadOnlySpan<byte> code)
    {
        var expected = CachedAnswerCode;
        if (code.Length < expected.Length) return null;
        for (int i = 0; i < expected.Length; i++)
            if ((i < 2 || i >= 6) && code[i] != expected[i]) return null;
        // RIP-relative: the displacement counts from the end of the 6-byte mov.
        return 6L + BitConverter.ToInt32(code[2..6]);
    }

    private static string CpuVendor()
    {
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<byte> name = stackalloc byte[12];
        BitConverter.TryWriteBytes(name[..4], ebx);
        BitConverter.TryWriteBytes(name[4..8], edx);
        BitConverter.TryWriteBytes(name[8..], ecx);
        return System.Text.Encoding.ASCII.GetString(name);
    }

    private static unsafe int CpuDetect(nint detect) => ((delegate* unmanaged<int>)detect)();
}
