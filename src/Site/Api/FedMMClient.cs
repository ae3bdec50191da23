using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Site.Api;

/// <summary>
/// Typed client of the FedMM REST API (docs/API.md). It sends and reads the API's own request and
/// response types (src/Contracts/Rest) with <see cref="ContractJson.Options"/>. Idempotent calls retry with backoff;
/// uploads and downloads are streamed from and to files, never buffered whole.
/// </summary>
public sealed class FedMMClient : IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(100);
    private static readonly TimeSpan TransferTimeout = TimeSpan.FromMinutes(30);

    private readonly HttpClient http;
    private readonly bool ownsHttp;
    private readonly ApiCredentials credentials;
    private readonly RetryPolicy retry;
    private readonly Action<string>? onRetry;

    /// <summary>A client of the API at <paramref name="baseAddress"/> (e.g. http://127.0.0.1:5080).</summary>
    public FedMMClient(Uri baseAddress, ApiCredentials credentials, RetryPolicy? retry = null, Action<string>? onRetry = null, HttpMessageHandler? handler = null)
    {
        if (!baseAddress.IsAbsoluteUri || baseAddress.Scheme is not ("http" or "https"))
            throw new ArgumentException($"API address '{baseAddress}' must be an absolute http(s) URL.", nameof(baseAddress));
        http = handler is null ? new HttpClient() : new HttpClient(handler);
        ownsHttp = true;
        // Per-request timeouts below; long-polls and large transfers need more than the default 100 s.
        http.Timeout = Timeout.InfiniteTimeSpan;
        http.BaseAddress = new Uri(baseAddress.ToString().TrimEnd('/') + "/");
        this.credentials = credentials;
        this.retry = retry ?? RetryPolicy.Default;
        this.onRetry = onRetry;
    }

    /// <summary>The API's base address.</summary>
    public Uri BaseAddress => http.BaseAddress!;

    // ---------- operator ----------

    /// <summary>POST /api/federations.</summary>
    public Task<FederationResponse> CreateFederationAsync(string? id, FederationConfig config, CancellationToken ct = default)
        => SendJsonAsync<FederationResponse>(HttpMethod.Post, "api/federations", new CreateFederationRequest(id, config), idempotent: false, ct);

    /// <summary>GET /api/federations.</summary>
    public Task<IReadOnlyList<FederationResponse>> ListFederationsAsync(CancellationToken ct = default)
        => SendJsonAsync<IReadOnlyList<FederationResponse>>(HttpMethod.Get, "api/federations", null, idempotent: true, ct);

    /// <summary>GET /api/federations/{fid}.</summary>
    public Task<FederationResponse> GetFederationAsync(string federationId, CancellationToken ct = default)
        => SendJsonAsync<FederationResponse>(HttpMethod.Get, $"api/federations/{Id(federationId)}", null, idempotent: true, ct);

    /// <summary>POST /api/federations/{fid}/clients; the token in the result is shown only once.</summary>
    public Task<ClientRegistration> RegisterClientAsync(string federationId, string clientId, Modalities modalities, CancellationToken ct = default)
        => RegisterClientAsync(federationId, clientId, modalities, tokenExpiresAt: null, ct);

    /// <summary>POST /api/federations/{fid}/clients with a token that stops being accepted at <paramref name="tokenExpiresAt"/> (null: never).</summary>
    public Task<ClientRegistration> RegisterClientAsync(string federationId, string clientId, Modalities modalities, DateTimeOffset? tokenExpiresAt, CancellationToken ct = default)
        => RegisterClientAsync(federationId, clientId, modalities, tokenExpiresAt, expectedSamples: null, ct);

    /// <summary>POST /api/federations/{fid}/clients declaring the site's training-set size (null: none); a round weighs a larger claim as that size.</summary>
    public Task<ClientRegistration> RegisterClientAsync(string federationId, string clientId, Modalities modalities, DateTimeOffset? tokenExpiresAt, int? expectedSamples, CancellationToken ct = default)
        => SendJsonAsync<ClientRegistration>(HttpMethod.Post, $"api/federations/{Id(federationId)}/clients",
            new RegisterClientRequest(Id(clientId), modalities.ToName(), tokenExpiresAt, expectedSamples), idempotent: false, ct);

    /// <summary>POST /api/federations/{fid}/clients/{cid}/revoke: the site's token is refused from now on (repeating it changes nothing).</summary>
    public Task<ClientResponse> RevokeClientAsync(string federationId, string clientId, CancellationToken ct = default)
        => SendJsonAsync<ClientResponse>(HttpMethod.Post, $"api/federations/{Id(federationId)}/clients/{Id(clientId)}/revoke", null, idempotent: true, ct);

    /// <summary>POST /api/federations/{fid}/clients/{cid}/token: a new token (shown once); the old one is refused, a revoked site is reinstated.</summary>
    public Task<ClientRegistration> RotateClientTokenAsync(string federationId, string clientId, DateTimeOffset? expiresAt, CancellationToken ct = default)
        => SendJsonAsync<ClientRegistration>(HttpMethod.Post, $"api/federations/{Id(federationId)}/clients/{Id(clientId)}/token",
            new RotateTokenRequest(expiresAt), idempotent: false, ct);

    /// <summary>GET /api/federations/{fid}/clients.</summary>
    public Task<IReadOnlyList<ClientResponse>> ListClientsAsync(string federationId, CancellationToken ct = default)
        => SendJsonAsync<IReadOnlyList<ClientResponse>>(HttpMethod.Get, $"api/federations/{Id(federationId)}/clients", null, idempotent: true, ct);

    /// <summary>POST /api/federations/{fid}/rounds: queues <paramref name="rounds"/> rounds.</summary>
    public Task<StartRoundsResponse> StartRoundsAsync(string federationId, int? rounds, IReadOnlyList<string>? participants, CancellationToken ct = default)
        => SendJsonAsync<StartRoundsResponse>(HttpMethod.Post, $"api/federations/{Id(federationId)}/rounds",
            new StartRoundsRequest(rounds, participants), idempotent: false, ct);

    /// <summary>GET /api/federations/{fid}/rounds.</summary>
    public Task<IReadOnlyList<RoundView>> ListRoundsAsync(string federationId, CancellationToken ct = default)
        => SendJsonAsync<IReadOnlyList<RoundView>>(HttpMethod.Get, $"api/federations/{Id(federationId)}/rounds", null, idempotent: true, ct);

    /// <summary>GET /api/federations/{fid}/rounds/{r}.</summary>
    public Task<RoundView> GetRoundAsync(string federationId, int round, CancellationToken ct = default)
        => SendJsonAsync<RoundView>(HttpMethod.Get, $"api/federations/{Id(federationId)}/rounds/{Round(round)}", null, idempotent: true, ct);

    /// <summary>POST /api/federations/{fid}/rounds/{r}/cancel (cancelling twice changes nothing, so it retries).</summary>
    public Task<RoundView> CancelRoundAsync(string federationId, int round, CancellationToken ct = default)
        => SendJsonAsync<RoundView>(HttpMethod.Post, $"api/federations/{Id(federationId)}/rounds/{Round(round)}/cancel", null, idempotent: true, ct);

    // ---------- site ----------

    /// <summary>GET .../clients/{cid}/task, long-polling up to <paramref name="waitSeconds"/> (max 60).</summary>
    public Task<SiteTaskResponse> GetTaskAsync(string federationId, string clientId, int waitSeconds, CancellationToken ct = default)
    {
        int wait = Math.Clamp(waitSeconds, 0, 60);
        return SendJsonAsync<SiteTaskResponse>(HttpMethod.Get, $"api/federations/{Id(federationId)}/clients/{Id(clientId)}/task?waitSeconds={wait}",
            null, idempotent: true, ct, RequestTimeout + TimeSpan.FromSeconds(wait));
    }

    /// <summary>GET .../global/latest: the latest completed round, or null when none.</summary>
    public async Task<int?> GetLatestGlobalRoundAsync(string federationId, CancellationToken ct = default)
    {
        try
        {
            var latest = await SendJsonAsync<LatestGlobalResponse>(HttpMethod.Get, $"api/federations/{Id(federationId)}/global/latest", null, idempotent: true, ct);
            return latest.Round;
        }
        catch (ApiException e) when (e.Status == HttpStatusCode.NotFound && e.Detail?.Contains("federation", StringComparison.OrdinalIgnoreCase) != true)
        {
            return null;
        }
    }

    /// <summary>Streams one global artifact of round <paramref name="round"/> to <paramref name="destination"/> (written atomically).</summary>
    public async Task DownloadGlobalArtifactAsync(string federationId, int round, string artifact, string destination, CancellationToken ct = default)
    {
        if (!ArtifactLayout.GlobalFiles.Contains(artifact))
            throw new ArgumentException($"Unknown global artifact '{artifact}'; expected one of {string.Join(", ", ArtifactLayout.GlobalFiles)}.", nameof(artifact));
        string path = $"api/federations/{Id(federationId)}/rounds/{Round(round)}/global/{artifact}";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        string partial = destination + ".partial";
        await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, path), idempotent: true, TransferTimeout, async (response, token) =>
        {
            await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            await using (var body = await response.Content.ReadAsStreamAsync(token))
                await body.CopyToAsync(file, token);
            File.Move(partial, destination, overwrite: true);
            return true;
        }, ct);
    }

    /// <summary>
    /// PUT .../rounds/{r}/clients/{cid}/update: streams the three files as multipart parts
    /// weights, vectors and metrics. Retried like a read: the API accepts an identical repeat as a no-op.
    /// </summary>
    public Task<UploadOutcome> UploadUpdateAsync(string federationId, int round, string clientId,
        string weightsPath, string vectorsPath, string metricsPath, CancellationToken ct = default)
    {
        foreach (var file in new[] { weightsPath, vectorsPath, metricsPath })
            if (!File.Exists(file)) throw new FileNotFoundException($"Update file {file} does not exist.", file);
        string path = $"api/federations/{Id(federationId)}/rounds/{Round(round)}/clients/{Id(clientId)}/update";
        return SendAsync(() =>
        {
            // Each attempt opens the files afresh, so a retry re-sends the whole body.
            var form = new MultipartFormDataContent
            {
                { FilePart(weightsPath, "application/octet-stream"), "weights", "weights.safetensors" },
                { FilePart(vectorsPath, "application/octet-stream"), "vectors", "vectors.safetensors" },
                { FilePart(metricsPath, "application/json"), "metrics", "metrics.json" },
            };
            return new HttpRequestMessage(HttpMethod.Put, path) { Content = form };
        }, idempotent: true, TransferTimeout, (response, _) =>
            Task.FromResult(response.StatusCode == HttpStatusCode.OK ? UploadOutcome.AlreadyStored : UploadOutcome.Created), ct);
    }

    private static StreamContent FilePart(string path, string mediaType)
    {
        var content = new StreamContent(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true));
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return content;
    }

    // ---------- plumbing ----------

    private Task<T> SendJsonAsync<T>(HttpMethod method, string path, object? body, bool idempotent, CancellationToken ct, TimeSpan? timeout = null)
        => SendAsync(() =>
        {
            var request = new HttpRequestMessage(method, path);
            if (body is not null) request.Content = JsonContent.Create(body, body.GetType(), options: ContractJson.Options);
            return request;
        }, idempotent, timeout ?? RequestTimeout, async (response, token) =>
        {
            var value = await response.Content.ReadFromJsonAsync<T>(ContractJson.Options, token);
            return value ?? throw new ApiException(response.StatusCode, method.Method, "/" + path, "Empty response", $"the API returned no {typeof(T).Name}");
        }, ct);

    private async Task<T> SendAsync<T>(Func<HttpRequestMessage> createRequest, bool idempotent, TimeSpan timeout,
        Func<HttpResponseMessage, CancellationToken, Task<T>> read, CancellationToken ct)
    {
        int attempts = idempotent ? Math.Max(1, retry.MaxAttempts) : 1;
        for (int attempt = 1; ; attempt++)
        {
            using var request = createRequest();
            Authorize(request);
            using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeoutSource.CancelAfter(timeout);
            string path = "/" + request.RequestUri!.OriginalString.Split('?')[0];
            string describe = $"{request.Method} {path}";
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutSource.Token);
                if (response.IsSuccessStatusCode) return await read(response, timeoutSource.Token);
                var problem = await ReadProblemAsync(response, request.Method.Method, path, timeoutSource.Token);
                if (attempt < attempts && RetryPolicy.IsTransient(response.StatusCode))
                {
                    await BackOffAsync(attempt, describe, $"{(int)response.StatusCode} {problem.Detail ?? problem.Title}", ct);
                    continue;
                }
                throw problem;
            }
            catch (HttpRequestException e) when (attempt < attempts && e.StatusCode is null)
            {
                await BackOffAsync(attempt, describe, e.Message, ct);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested && attempt < attempts)
            {
                await BackOffAsync(attempt, describe, $"no answer within {timeout.TotalSeconds:0} s", ct);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new HttpRequestException($"{describe}: no answer within {timeout.TotalSeconds:0} s from {http.BaseAddress}");
            }
            catch (HttpRequestException e) when (e.StatusCode is null)
            {
                throw new HttpRequestException($"{describe} at {http.BaseAddress}: {e.Message}", e.InnerException);
            }
        }
    }

    private async Task BackOffAsync(int attempt, string what, string why, CancellationToken ct)
    {
        var delay = retry.DelayBefore(attempt + 1);
        onRetry?.Invoke($"{what} failed ({why}); retrying in {delay.TotalSeconds:0.#} s");
        await Task.Delay(delay, ct);
    }

    private void Authorize(HttpRequestMessage request)
    {
        if (credentials.AdminKey is { Length: > 0 } key) request.Headers.Add("X-Api-Key", key);
        if (credentials.SiteToken is { Length: > 0 } token) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    private static async Task<ApiException> ReadProblemAsync(HttpResponseMessage response, string method, string path, CancellationToken ct)
    {
        string? title = null, detail = null;
        try
        {
            string text = await response.Content.ReadAsStringAsync(ct);
            if (text.Length > 0 && text.TrimStart().StartsWith('{'))
            {
                using var doc = JsonDocument.Parse(text);
                if (doc.RootElement.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String) title = t.GetString();
                if (doc.RootElement.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String) detail = d.GetString();
            }
            else if (text.Length > 0)
            {
                detail = text.Length > 300 ? text[..300] : text;
            }
        }
        catch (JsonException)
        {
            // Not ProblemDetails: status and reason phrase still say what happened.
        }
        return new ApiException(response.StatusCode, method, path, title ?? response.ReasonPhrase, detail);
    }

    private static string Id(string id)
    {
        if (!IdentifierRule.IsValid(id))
            throw new ArgumentException($"'{id}' is not a valid identifier: lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters.");
        return id;
    }

    private static string Round(int round)
        => round >= 1 ? round.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : throw new ArgumentOutOfRangeException(nameof(round), round, "Round numbers start at 1.");

    /// <inheritdoc/>
    public void Dispose()
    {
        if (ownsHttp) http.Dispose();
    }
}
