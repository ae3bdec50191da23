using System.Diagnostics;
using System.Text;
using FedMM.Api.Tests.Infrastructure;

namespace FedMM.Api.Tests.Measurements;

/// <summary>
/// The API as its own process on Kestrel (127.0.0.1), so its memory can be read from
/// /proc without the test client in the same process. Ended by its process id.
/// </summary>
public sealed class ApiProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder log = new();

    private ApiProcess(Process process, Uri address)
    {
        this.process = process;
        Address = address;
    }

    /// <summary>Base address of the API.</summary>
    public Uri Address { get; }

    /// <summary>The API's process id.</summary>
    public int ProcessId => process.Id;

    /// <summary>Starts the API against the fixture's silo and Azurite and waits for /health/ready; <paramref name="settings"/> are further Api settings.</summary>
    public static async Task<ApiProcess> StartAsync(string storageConnectionString, string artifactContainer, int port, long maxArtifactBytes,
        IReadOnlyDictionary<string, string>? settings = null)
    {
        string output = SiloProcess.BuildOutputOf("Api");
        string dll = Path.Combine(output, "FedMM.Api.dll");
        var info = new ProcessStartInfo("dotnet", $"\"{dll}\"") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = output };
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        info.Environment["FEDMM_Api__AdminKey"] = ApiFixture.AdminKey;
        info.Environment["FEDMM_Api__MaxArtifactBytes"] = maxArtifactBytes.ToString();
        info.Environment["FEDMM_Storage__ConnectionString"] = storageConnectionString;
        info.Environment["FEDMM_Storage__ArtifactContainer"] = artifactContainer;
        info.Environment["FEDMM_Cluster__Mode"] = "Localhost";
        info.Environment["FEDMM_Cluster__GatewayPort"] = SiloProcess.GatewayPort.ToString();
        info.Environment["FEDMM_Cluster__ClusterId"] = "fedmm-api-tests";
        info.Environment["FEDMM_Cluster__ServiceId"] = "fedmm-api-tests";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) info.Environment[$"FEDMM_Api__{key}"] = value;
        var api = new ApiProcess(Process.Start(info)!, new Uri($"http://127.0.0.1:{port}"));
        api.process.OutputDataReceived += (_, e) => { lock (api.log) api.log.AppendLine(e.Data); };
        api.process.ErrorDataReceived += (_, e) => { lock (api.log) api.log.AppendLine(e.Data); };
        api.process.BeginOutputReadLine();
        api.process.BeginErrorReadLine();
        using var client = new HttpClient { BaseAddress = api.Address };
        var until = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < until)
        {
            if (api.process.HasExited) throw new InvalidOperationException($"The API exited ({api.process.ExitCode}):\n{api.log}");
            try
            {
                if ((await client.GetAsync("/health/ready")).IsSuccessStatusCode) return api;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            await Task.Delay(250);
        }
        await api.DisposeAsync();
        throw new TimeoutException($"The API was not ready within 60 s:\n{api.log}");
    }

    /// <summary>A field of /proc/PID/status in bytes (VmRSS: resident now, VmHWM: peak resident).</summary>
    public long StatusBytes(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException($"/proc/{process.Id}/status has no {field}.");
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }
}
