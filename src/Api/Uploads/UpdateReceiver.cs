using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using FedMM.Api.Configuration;
using FedMM.Api.Requests;
using FedMM.Contracts;
using FedMM.Storage;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace FedMM.Api.Uploads;

/// <summary>
/// Reads a site update (multipart/form-data: weights, vectors, metrics) from the request body,
/// streaming each safetensors part through <see cref="SafetensorsStreamInspector"/> into an
/// uncommitted <see cref="StagedBlob"/>, so at most one read buffer and one block per part are
/// in memory. Throws <see cref="UploadRejectedException"/> at the first fault; nothing is committed here.
/// </summary>
public sealed class UpdateReceiver(BlobArtifactStore artifacts, IOptions<ApiOptions> options)
{
    /// <summary>Size of the blocks staged to storage.</summary>
    public const int BlockSize = BlobArtifactStore.BlockSize;

    private const int ReadBufferSize = 128 * 1024;
    private static readonly string[] TensorParts = ["weights", "vectors"];

    /// <summary>A received, validated update: its staged parts and metrics.</summary>
    public sealed record ReceivedUpdate(IReadOnlyList<ReceivedPart> Parts, SiteMetrics Metrics);

    /// <summary>Most bytes a whole update request may have.</summary>
    public long MaxRequestBytes => 2 * options.Value.MaxArtifactBytes + options.Value.MaxMetricsBytes + 1024 * 1024;

    /// <summary>
    /// Receives and validates the update of <paramref name="clientId"/> for round <paramref name="round"/>;
    /// with <paramref name="store"/> false the parts are only validated and hashed (an update is already recorded).
    /// </summary>
    public async Task<ReceivedUpdate> ReceiveAsync(
        HttpRequest request, string federationId, int round, string clientId,
        FederationConfig config, Modalities modalities, IReadOnlyList<ParameterShape> sharedParameters,
        bool store, CancellationToken cancellationToken)
    {
        var boundary = Boundary(request);
        var reader = new MultipartReader(boundary, request.Body) { HeadersLengthLimit = 16 * 1024, BodyLengthLimit = null };
        var parts = new Dictionary<string, ReceivedPart>();
        var countSums = new Dictionary<string, double>(StringComparer.Ordinal);
        SiteMetrics? metrics = null;
        var limits = options.Value;
        try
        {
            return await ReceivePartsAsync();
        }
        catch
        {
            foreach (var part in parts.Values) await part.Blob.DisposeAsync();
            throw;
        }

        async Task<ReceivedUpdate> ReceivePartsAsync()
        {
            try
            {
                MultipartSection? section;
                while ((section = await reader.ReadNextSectionAsync(cancellationToken)) is not null)
                {
                    string name = PartName(section);
                    if (parts.ContainsKey(name) || (name == "metrics" && metrics is not null))
                        throw new UploadRejectedException(name, "appears more than once.");
                    switch (name)
                    {
                        case "weights":
                            parts[name] = await ReceiveTensorsAsync(section.Body, name, ArtifactLayout.Update(federationId, round, clientId, ArtifactLayout.Weights),
                                UpdateContract.Weights(sharedParameters, modalities, config.Round.Robustness ?? new RobustnessConfig()), store, cancellationToken);
                            break;
                        case "vectors":
                            parts[name] = await ReceiveTensorsAsync(section.Body, name, ArtifactLayout.Update(federationId, round, clientId, ArtifactLayout.Vectors),
                                UpdateContract.Vectors(config, modalities), store, cancellationToken, countSums);
                            break;
                        case "metrics":
                            var bytes = await ReadSmallAsync(section.Body, name, limits.MaxMetricsBytes, cancellationToken);
                            metrics = ReadMetrics(bytes, clientId, round, modalities, config);
                            break;
                        default:
                            throw new UploadRejectedException(name, "is not a part of an update; send exactly weights, vectors and metrics.");
                    }
                }
            }
            catch (IOException e) when (e is not EndOfStreamException)
            {
                throw new UploadRejectedException("body", $"could not be read as multipart/form-data: {e.Message}");
            }
            catch (InvalidDataException e)
            {
                throw new UploadRejectedException("body", $"is not valid multipart/form-data: {e.Message}");
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                throw new UploadRejectedException("body", $"is larger than the limit of {MaxRequestBytes} bytes.", StatusCodes.Status413PayloadTooLarge);
            }
            var missing = TensorParts.Where(p => !parts.ContainsKey(p)).ToList();
            if (metrics is null) missing.Add("metrics");
            if (missing.Count > 0)
                throw new UploadRejectedException("body", $"is missing part(s) {string.Join(", ", missing)}; an update has weights, vectors and metrics.");
            // The claimed sample count must fit the cap and what the site's own centroid counts support.
            double? cooccurrence = countSums.TryGetValue("cooccurrence", out var co) ? co : null;
            if (UpdateBounds.SampleCountProblem(config.Round.Robustness ?? new RobustnessConfig(), metrics!.TrainSamples,
                    countSums.Where(p => p.Key != "cooccurrence").ToDictionary(), cooccurrence) is { } problem)
                throw new UploadRejectedException("metrics", problem);

            var metricsBytes = JsonSerializer.SerializeToUtf8Bytes(metrics, ContractJson.Options);
            // Metrics are a few KiB: a buffer of their size, not a 4 MiB block.
            var metricsBlob = artifacts.Stage(ArtifactLayout.Update(federationId, round, clientId, ArtifactLayout.Metrics), Math.Max(1, metricsBytes.Length), store);
            await metricsBlob.WriteAsync(metricsBytes, cancellationToken);
            var metricsPart = new ReceivedPart("metrics", metricsBlob, metricsBytes.Length, Convert.ToHexStringLower(SHA256.HashData(metricsBytes)), "application/json");
            return new ReceivedUpdate([parts["weights"], parts["vectors"], metricsPart], metrics);
        }
    }

    // The metrics as the site sent them, checked against the route and the site's registration.
    private static SiteMetrics ReadMetrics(ReadOnlySpan<byte> json, string clientId, int round, Modalities registered, FederationConfig config)
    {
        SiteMetrics metrics;
        try { metrics = ContractJson.Parse<SiteMetrics>(json, "metrics"); }
        catch (FormatException e) { throw new UploadRejectedException("metrics", $"is not valid SiteMetrics JSON: {e.Message}"); }
        return UpdateContract.MetricsProblem(metrics, clientId, round, registered, config) is { } problem
            ? throw new UploadRejectedException("metrics", problem)
            : metrics;
    }

    private async Task<ReceivedPart> ReceiveTensorsAsync(
        Stream body, string part, string blobName, ArtifactExpectation expectation, bool store, CancellationToken cancellationToken, Dictionary<string, double>? countSums = null)
    {
        var limits = options.Value;
        using var inspector = new SafetensorsStreamInspector(part, expectation, limits.MaxArtifactBytes, limits.MaxSafetensorsHeaderBytes);
        var blob = artifacts.Stage(blobName, BlockSize, store);
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, ReadBufferSize), cancellationToken)) > 0)
            {
                inspector.Consume(buffer.AsSpan(0, read));
                await blob.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
            string sha256 = inspector.Complete();
            if (countSums is not null)
                foreach (var (name, sum) in inspector.CountSums) countSums[name] = sum;
            await blob.CompleteStagingAsync(cancellationToken);
            return new ReceivedPart(part, blob, inspector.Length, sha256, "application/octet-stream");
        }
        catch
        {
            await blob.DisposeAsync();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<byte[]> ReadSmallAsync(Stream body, string part, int maxBytes, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                throw new UploadRejectedException(part, $"is larger than the limit of {maxBytes} bytes.", StatusCodes.Status413PayloadTooLarge);
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static string Boundary(HttpRequest request)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType)
            || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            throw new UploadRejectedException("body", $"must be multipart/form-data, not '{request.ContentType}'.");
        var boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value;
        if (string.IsNullOrWhiteSpace(boundary) || boundary.Length > 200)
            throw new UploadRejectedException("body", "has a missing or overlong multipart boundary.");
        return boundary;
    }

    private static string PartName(MultipartSection section)
    {
        if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
            || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase)
            || string.IsNullOrEmpty(disposition.Name.Value))
            throw new UploadRejectedException("body", "has a part without a form-data name.");
        return HeaderUtilities.RemoveQuotes(disposition.Name).Value!;
    }
}
