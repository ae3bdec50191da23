using FedMM.Learning.Runtime;

namespace FedMM.Learning.Tests.Runtime;

/// <summary>glibc's thresholds as the computing entry points set them.</summary>
public class MallocThresholdsTests
{
    [Fact]
    public void GlibcTakesTheThresholdsOnceAndReportsThem()
    {
        string first = MallocThresholds.Apply();
        Assert.Equal(first, MallocThresholds.Apply());
        bool untouched = new[] { MallocThresholds.Variable, "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES" }
            .Any(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)));
        if (OperatingSystem.IsLinux() && !untouched && File.Exists("/usr/lib/x86_64-linux-gnu/libc.so.6"))
            Assert.Equal("malloc keeps freed memory (mmap threshold 32 MiB, trim threshold 256 MiB)", first);
        else
            Assert.StartsWith("malloc ", first);
    }
}
