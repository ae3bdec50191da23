using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using FedMM.Api.Tests.Infrastructure;
using FedMM.Api.Uploads;
using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;

namespace FedMM.Api.Tests;

/// <summary>
/// Requests the API must refuse: each gets the expected status and a ProblemDetails whose detail
/// says why, and leaves every blob and all grain state exactly as it was.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class BadRequestTests(ApiFixture api)
{
    private const string F = BadRequestWorld.Federation;

    /// <summary>One refused request: how to send it, the status and a phrase of the detail.</summary>
    public sealed record Refusal(Func<ApiFixture, BadRequestWorld, Task<HttpResponseMessage>> Send, int Status, string Phrase);

    private static readonly Dictionary<string, Refusal> Cases = new()
    {
        // Operator authentication
        ["create federation without admin key"] = new((a, w) => a.Anonymous().PostAsJsonAsync("/api/federations", new { id = "nokey", config = w.Config }), 401, "admin key"),
        ["create federation with wrong admin key"] = new((a, w) => WrongKey(a).PostAsJsonAsync("/api/federations", new { id = "wrongkey", config = w.Config }), 403, "does not hold the admin key"),
        ["register client with wrong admin key"] = new((a, w) => WrongKey(a).PostAsJsonAsync($"/api/federations/{F}/clients", new { clientId = "x-site", modalities = "image" }), 403, "does not hold the admin key"),
        ["start round with a site token"] = new((a, w) => a.Site(w.Tokens["img-site"]).PostAsJsonAsync($"/api/federations/{F}/rounds", new { rounds = 1 }), 401, "admin key"),
        // Site authentication and authorization
        ["task without token"] = new((a, w) => a.Anonymous().GetAsync($"/api/federations/{F}/clients/img-site/task"), 401, "Bearer"),
        ["task with wrong token"] = new((a, w) => a.Site("not-a-token").GetAsync($"/api/federations/{F}/clients/img-site/task"), 403, "not the token of client 'img-site'"),
        ["site reading another site's task"] = new((a, w) => a.Site(w.Tokens["txt-site"]).GetAsync($"/api/federations/{F}/clients/img-site/task"), 403, "not the token of client 'img-site'"),
        ["upload without token"] = new((a, w) => a.Anonymous().PutAsync(UpdatePath(F, 1, "img-site"), w.ImageSiteUpdate().ToContent()), 401, "Bearer"),
        ["upload with wrong token"] = new((a, w) => a.UploadAsync("wrong", F, 1, "img-site", w.ImageSiteUpdate().ToContent()), 403, "not the token of client 'img-site'"),
        ["site writing for another site"] = new((a, w) => a.UploadAsync(w.Tokens["txt-site"], F, 1, "img-site", w.ImageSiteUpdate().ToContent()), 403, "not the token of client 'img-site'"),
        ["upload with the admin key instead of a token"] = new((a, w) => a.Operator().PutAsync(UpdatePath(F, 1, "img-site"), w.ImageSiteUpdate().ToContent()), 403, "cannot write a site's update"),
        ["upload with the admin key beside the site's own token"] = new((a, w) => WithKeyAndToken(a, w.Tokens["img-site"]).PutAsync(UpdatePath(F, 1, "img-site"), w.ImageSiteUpdate().ToContent()), 403, "cannot write a site's update"),
        ["invalid identifier without credentials"] = new((a, w) => a.Anonymous().GetAsync("/api/federations/No_Such"), 400, "not a valid identifier"),
        ["site token on an invalid client id"] = new((a, w) => a.Site(w.Tokens["img-site"]).GetAsync($"/api/federations/{F}/clients/img-site%0A/task"), 400, "not a valid identifier"),
        ["global package with a token of another federation"] = new((a, w) => a.Site(w.Tokens["solo-site"]).GetAsync($"/api/federations/{F}/global/latest"), 403, "belongs to no client"),
        // Unknown federation, round, client
        ["unknown federation"] = new((a, w) => a.Operator().GetAsync("/api/federations/no-such-fed"), 404, "does not exist"),
        ["unknown round"] = new((a, w) => a.Operator().GetAsync($"/api/federations/{F}/rounds/99"), 404, "never requested"),
        ["register client declaring no samples"] = new((a, w) => a.Operator().PostAsJsonAsync($"/api/federations/{F}/clients", new { clientId = "zero-site", modalities = "image", expectedSamples = 0 }), 400, "expectedSamples 0 must be at least 1"),
        ["register client in unknown federation"] = new((a, w) => a.Operator().PostAsJsonAsync("/api/federations/no-such-fed/clients", new { clientId = "x-site", modalities = "image" }), 404, "does not exist"),
        ["upload for unknown round"] = new((a, w) => a.UploadAsync(w.Tokens["img-site"], F, 99, "img-site", w.ImageSiteUpdate(99).ToContent()), 404, "never requested"),
        ["round with unknown participant"] = new((a, w) => a.Operator().PostAsJsonAsync($"/api/federations/{F}/rounds", new { participants = new[] { "ghost-site" } }), 404, "not a registered client"),
        ["site not participating in the round"] = new((a, w) => a.UploadAsync(w.Tokens["late-site"], F, 1, "late-site", SiteUpdateFiles.Valid(w.Config, "late-site", Modalities.Image, 1).ToContent()), 403, "not a participant"),
        ["task of an unknown client"] = new((a, w) => a.Operator().GetAsync($"/api/federations/{F}/clients/ghost-site/task"), 404, "ghost-site"),
        ["latest global package before any completed round"] = new((a, w) => a.Site(w.Tokens["img-site"]).GetAsync($"/api/federations/{F}/global/latest"), 404, "no completed round yet"),
        ["global package of a collecting round"] = new((a, w) => a.Site(w.Tokens["img-site"]).GetAsync($"/api/federations/{F}/rounds/1/global/weights.safetensors"), 404, "exists once it is Completed"),
        ["unknown global artifact"] = new((a, w) => a.Site(w.Tokens["img-site"]).GetAsync($"/api/federations/{F}/rounds/1/global/encoder.pt"), 404, "not a global artifact"),
        ["report of a collecting round"] = new((a, w) => a.Operator().GetAsync($"/api/federations/{F}/rounds/1/report"), 409, "report exists once it is Completed"),
        // Identifiers
        ["path traversal in federation id"] = new((a, w) => a.Operator().GetAsync("/api/federations/..%2F..%2Fsecrets"), 400, "not a valid identifier"),
        ["path traversal in client id of an upload"] = new((a, w) => a.UploadAsync(w.Tokens["img-site"], F, 1, "..%2Fimg-site", w.ImageSiteUpdate().ToContent()), 400, "not a valid identifier"),
        ["oversize federation id"] = new((a, w) => a.Operator().PostAsJsonAsync("/api/federations", new { id = new string('f', 64), config = w.Config }), 400, "not a valid identifier"),
        ["upper-case client id"] = new((a, w) => a.Operator().PostAsJsonAsync($"/api/federations/{F}/clients", new { clientId = "Site-A", modalities = "image" }), 400, "not a valid identifier"),
        ["unknown modality at registration"] = new((a, w) => a.Operator().PostAsJsonAsync($"/api/federations/{F}/clients", new { clientId = "audio-site", modalities = "audio" }), 400, "not one of image, text, image+text"),
        ["round zero"] = new((a, w) => a.Operator().GetAsync($"/api/federations/{F}/rounds/0"), 400, "numbered from 1"),
        // Round state
        ["upload into a cancelled round"] = new((a, w) => a.UploadAsync(w.Tokens["solo-site"], BadRequestWorld.Closed, 1, "solo-site", SiteUpdateFiles.Valid(w.Config, "solo-site", Modalities.Image, 1).ToContent()), 409, "Cancelled"),
        ["upload into a queued round"] = new((a, w) => a.UploadAsync(w.Tokens["img-site"], F, 2, "img-site", w.ImageSiteUpdate(2).ToContent()), 409, "Queued"),
        ["different second upload"] = new((a, w) => a.UploadAsync(w.Tokens["both-site"], F, 1, "both-site", SiteUpdateFiles.Valid(w.Config, "both-site", Modalities.Both, 1, seed: 7).ToContent()), 409, "different update"),
        // Safetensors
        ["truncated weights"] = new((a, w) => Upload(a, w, weights: Cut(Weights(w), 100)), 400, "truncated"),
        ["lying header: offsets beyond the data"] = new((a, w) => Upload(a, w, weights: Weights(w).ToArray(endOffsetSlack: 4096)), 400, "but shape"),
        ["lying header: shape larger than the data"] = new((a, w) => Upload(a, w, weights: Cut(Weights(w), 512)), 400, "only"),
        ["header length beyond the limit"] = new((a, w) => Upload(a, w, weights: HugeHeaderLength()), 400, "declares a safetensors header"),
        ["header that is not JSON"] = new((a, w) => Upload(a, w, weights: NotJsonHeader()), 400, "must start with"),
        ["unexpected tensor name"] = new((a, w) => Upload(a, w, weights: Weights(w).F32("encoder.layer.0.weight", [4]).ToArray()), 400, "unexpected tensor 'encoder.layer.0.weight'"),
        ["missing tensor"] = new((a, w) => Upload(a, w, weights: Weights(w, skip: "image_adapter.norm.bias").ToArray()), 400, "missing tensor(s) image_adapter.norm.bias"),
        ["wrong tensor shape"] = new((a, w) => Upload(a, w, weights: Weights(w, reshape: "image_adapter.proj.bias").ToArray()), 400, "'image_adapter.proj.bias' has shape [129]"),
        ["wrong tensor dtype"] = new((a, w) => Upload(a, w, weights: Weights(w, f16: "image_adapter.missing").ToArray()), 400, "has dtype F16"),
        ["NaN in weights"] = new((a, w) => Upload(a, w, weights: Weights(w, bad: ("image_adapter.proj.weight", float.NaN)).ToArray()), 400, "NaN"),
        ["infinity in vectors"] = new((a, w) => Upload(a, w, vectors: new SafetensorsBytes().F32("image.centroids", [8, 128], BadAt(8 * 128, 77, float.PositiveInfinity)).F32("image.counts", [8], fill: 1f).ToArray()), 400, "infinite value at element 77"),
        ["zero centroid count"] = new((a, w) => Upload(a, w, vectors: new SafetensorsBytes().F32("image.centroids", [8, 128]).F32("image.counts", [8], fill: 0f).ToArray()), 400, "must be > 0"),
        ["centroid of fewer than privacy.minSupport samples"] = new((a, w) => Upload(a, w, vectors: new SafetensorsBytes().F32("image.centroids", [8, 128]).F32("image.counts", [8], fill: 3f).ToArray()), 400, "'image.counts' row 0 rests on 3 samples, fewer than privacy.minSupport 5"),
        ["more centroids than localClusters"] = new((a, w) => Upload(a, w, vectors: SiteUpdateFiles.VectorsFor(w.Config, Modalities.Image, 33).ToArray()), 400, "33 image centroids"),
        ["weights of a modality the site is not registered for"] = new((a, w) => Upload(a, w, weights: Weights(w, modalities: Modalities.Both).ToArray()), 400, "unexpected tensor 'text_adapter"),
        ["vectors of a modality the site is not registered for"] = new((a, w) => Upload(a, w, vectors: SiteUpdateFiles.VectorsFor(w.Config, Modalities.Both, 8).ToArray()), 400, "unexpected tensor"),
        ["oversize weights part"] = new((a, w) => Upload(a, w, weights: Weights(w).F32("zz.padding", [ApiFixture.MaxArtifactBytes / 4 + 1]).ToArray()), 413, "larger than the limit"),
        // Metrics and multipart
        ["metrics not JSON"] = new((a, w) => Upload(a, w, metrics: Encoding.UTF8.GetBytes("{ trainSamples: ")), 400, "not valid SiteMetrics JSON"),
        ["metrics missing a field"] = new((a, w) => Upload(a, w, metrics: Encoding.UTF8.GetBytes("{\"clientId\":\"img-site\",\"round\":1}")), 400, "not valid SiteMetrics JSON"),
        ["metrics of another client"] = new((a, w) => Upload(a, w, metrics: SiteUpdateFiles.MetricsFor("txt-site", 1, Modalities.Image)), 400, "does not match the client 'img-site'"),
        ["metrics of another round"] = new((a, w) => Upload(a, w, metrics: SiteUpdateFiles.MetricsFor("img-site", 2, Modalities.Image)), 400, "does not match round 1"),
        ["metrics with zero train samples"] = new((a, w) => Upload(a, w, metrics: SiteUpdateFiles.MetricsFor("img-site", 1, Modalities.Image, trainSamples: 0)), 400, "trainSamples 0 must be greater than 0"),
        ["metrics claiming other modalities"] = new((a, w) => Upload(a, w, metrics: SiteUpdateFiles.MetricsFor("img-site", 1, Modalities.Both)), 400, "registered for"),
        // Robust aggregation bounds (round.robustness)
        ["weight beyond maxAbsValue"] = new((a, w) => Upload(a, w, weights: Weights(w, bad: ("image_adapter.proj.weight", 1e30f)).ToArray()), 400, "beyond round.robustness.maxAbsValue"),
        ["centroid count near float max"] = new((a, w) => Upload(a, w, vectors: new SafetensorsBytes().F32("image.centroids", [8, 128]).F32("image.counts", [8], fill: 3e38f).ToArray()), 400, "'image.counts' holds 3E+38 at element 0, beyond round.robustness.maxTrainSamples"),
        ["trainSamples 2^31-1"] = new((a, w) => Upload(a, w, metrics: SiteUpdateFiles.MetricsFor("img-site", 1, Modalities.Image, trainSamples: int.MaxValue)), 400, "trainSamples 2147483647 exceeds round.robustness.maxTrainSamples"),
        ["trainSamples beyond the site's centroid counts"] = new((a, w) => Upload(a, w, metrics: SiteUpdateFiles.MetricsFor("img-site", 1, Modalities.Image, trainSamples: 900_000)), 400, "more than its centroid counts account for"),
        ["missing metrics part"] = new((a, w) => Upload(a, w, omit: "metrics"), 400, "missing part(s) metrics"),
        ["unknown part"] = new((a, w) => Upload(a, w, extraPart: "encoder"), 400, "'encoder'"),
        ["body not multipart"] = new((a, w) => a.UploadAsync(w.Tokens["img-site"], F, 1, "img-site", JsonContent.Create(new { weights = "x" })), 400, "must be multipart/form-data"),
        // Federation configs
        ["config with an unknown robustness rule"] = new((a, w) => CreateWithChoice(a, w.Config, "round.robustness.rule", "mode"), 400, "round.robustness.rule: 'mode'"),
        ["config without labels"] = new((a, w) => CreateWith(a, w.Config with { Labels = [] }), 400, "labels"),
        ["config with duplicate labels"] = new((a, w) => CreateWith(a, w.Config with { Labels = ["a", "b", "a"] }), 400, "distinct"),
        ["config with unknown image encoder"] = new((a, w) => CreateWithChoice(a, w.Config, "model.imageEncoder", "resnet50"), 400, "imageEncoder"),
        ["config with K < 1"] = new((a, w) => CreateWith(a, w.Config with { Round = w.Config.Round with { LocalClusters = 0 } }), 400, "localClusters"),
        ["config with unknown personal layers"] = new((a, w) => CreateWithChoice(a, w.Config, "round.personalLayers", "head"), 400, "personalLayers"),
        ["config with minClients < 1"] = new((a, w) => CreateWith(a, w.Config with { Round = w.Config.Round with { MinClients = 0 } }), 400, "minClients"),
        ["config with BatchNorm momentum above 1"] = new((a, w) => CreateWith(a, w.Config with { Model = w.Config.Model with { ImageNormMomentum = 1.5 } }), 400, "imageNormMomentum"),
        ["config with heads not dividing d"] = new((a, w) => CreateWith(a, w.Config with { Model = w.Config.Model with { AttentionHeads = 3 } }), 400, "attentionHeads"),
        ["config with a misspelt field"] = new((a, w) => a.Operator().PostAsync("/api/federations", new StringContent("{\"id\":\"typo\",\"config\":{\"labels\":[\"a\",\"b\"],\"rounds\":{}}}", Encoding.UTF8, "application/json")), 400, "rounds"),
        ["federation without config"] = new((a, w) => a.Operator().PostAsJsonAsync("/api/federations", new { id = "noconfig" }), 400, "config is required"),
        ["zero rounds requested"] = new((a, w) => a.Operator().PostAsJsonAsync($"/api/federations/{F}/rounds", new { rounds = 0 }), 400, "rounds 0 must be"),
        ["task long-poll beyond the limit"] = new((a, w) => a.Site(w.Tokens["img-site"]).GetAsync($"/api/federations/{F}/clients/img-site/task?waitSeconds=999"), 400, "waitSeconds 999"),
    };

    /// <summary>Every case name.</summary>
    public static TheoryData<string> CaseNames() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Refused_with_a_reason_and_nothing_stored(string name)
    {
        var world = await api.WorldAsync();
        var before = await StateSnapshot.TakeAsync(api, F, BadRequestWorld.Closed);
        var c = Cases[name];

        var response = await c.Send(api, world);

        string body = await response.Content.ReadAsStringAsync();
        Assert.True(c.Status == (int)response.StatusCode, $"{name}: expected {c.Status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(body.Contains(c.Phrase, StringComparison.Ordinal), $"{name}: \"{c.Phrase}\" not in {body}");
        (await StateSnapshot.TakeAsync(api, F, BadRequestWorld.Closed)).AssertSameAs(before, name);
    }

    [Fact]
    public void There_are_at_least_25_cases() => Assert.True(Cases.Count >= 25, $"{Cases.Count} cases");

    private static string UpdatePath(string fid, int round, string cid) => $"/api/federations/{fid}/rounds/{round}/clients/{cid}/update";

    private static HttpClient WrongKey(ApiFixture api)
    {
        var client = api.Anonymous();
        client.DefaultRequestHeaders.Add("X-Api-Key", "wrong-key-wrong-key");
        return client;
    }

    private static HttpClient WithKeyAndToken(ApiFixture api, string token)
    {
        var client = api.Site(token);
        client.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.AdminKey);
        return client;
    }

    private static Task<HttpResponseMessage> CreateWith(ApiFixture api, FederationConfig config) =>
        api.Operator().PostAsJsonAsync("/api/federations", new { id = $"cfg-{Guid.NewGuid():N}"[..12], config });

    // The config as JSON with one choice set to a name no choice has, as a hand-written request sends it.
    private static Task<HttpResponseMessage> CreateWithChoice(ApiFixture api, FederationConfig config, string field, string value)
    {
        var json = System.Text.Json.JsonSerializer.SerializeToNode(config, ContractJson.Options)!;
        var path = field.Split('.');
        var parent = path[..^1].Aggregate(json, (node, name) => node[name]!);
        parent[path[^1]] = value;
        return api.Operator().PostAsJsonAsync("/api/federations", new { id = $"cfg-{Guid.NewGuid():N}"[..12], config = json });
    }

    /// <summary>img-site's update for round 1 with some parts replaced, omitted or added.</summary>
    private static Task<HttpResponseMessage> Upload(ApiFixture api, BadRequestWorld world,
        byte[]? weights = null, byte[]? vectors = null, byte[]? metrics = null, string? omit = null, string? extraPart = null)
    {
        var valid = world.ImageSiteUpdate();
        var content = new MultipartFormDataContent();
        if (omit != "weights") content.Add(new ByteArrayContent(weights ?? valid.Weights), "weights", "weights.safetensors");
        if (omit != "vectors") content.Add(new ByteArrayContent(vectors ?? valid.Vectors), "vectors", "vectors.safetensors");
        if (omit != "metrics") content.Add(new ByteArrayContent(metrics ?? valid.Metrics), "metrics", "metrics.json");
        if (extraPart is not null) content.Add(new ByteArrayContent([1, 2, 3]), extraPart, "extra.bin");
        return api.UploadAsync(world.Tokens["img-site"], F, 1, "img-site", content);
    }

    /// <summary>img-site's weights (or those of <paramref name="modalities"/>), with one tensor skipped, reshaped, F16 or holding a bad value.</summary>
    private static SafetensorsBytes Weights(BadRequestWorld world, string? skip = null, string? reshape = null, string? f16 = null,
        (string Name, float Value)? bad = null, Modalities modalities = Modalities.Image)
    {
        var parameters = SharedModel.ParameterShapes(world.Config.Model, world.Config.Labels.Count);
        var bytes = new SafetensorsBytes();
        foreach (var p in UpdateContract.Weights(parameters, modalities).Tensors)
        {
            long[] shape = [.. p.Shape];
            long count = shape.Aggregate(1L, (x, y) => x * y);
            if (p.Name == skip) continue;
            if (p.Name == reshape) bytes.F32(p.Name, [shape[0] + 1]);
            else if (p.Name == f16) bytes.Raw(p.Name, "F16", shape, new byte[count * 2]);
            else if (bad is { } b && p.Name == b.Name) bytes.F32(p.Name, shape, BadAt(count, count / 2, b.Value));
            else bytes.F32(p.Name, shape);
        }
        return bytes;
    }

    private static float[] BadAt(long count, long index, float value)
    {
        var values = new float[count];
        Array.Fill(values, 0.5f);
        values[index] = value;
        return values;
    }

    private static byte[] Cut(SafetensorsBytes bytes, int drop)
    {
        var all = bytes.ToArray();
        return all[..^drop];
    }

    private static byte[] HugeHeaderLength()
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1UL << 40);
        return bytes;
    }

    private static byte[] NotJsonHeader()
    {
        var header = Encoding.UTF8.GetBytes("this is not json");
        var bytes = new byte[8 + header.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }
}
