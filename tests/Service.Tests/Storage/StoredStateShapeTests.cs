using System.Text.Json;
using System.Text.Json.Nodes;
using FedMM.Contracts;
using FedMM.Grains.Federations;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Rounds;
using FedMM.Grains.Storage;

namespace FedMM.Service.Tests.Storage;

/// <summary>
/// Grain state written while configs and metrics crossed the grain boundary as JSON strings reads
/// into the typed state, and the typed state is written in that same shape (configJson and
/// metricsJson hold JSON text), so state and tools that read it need no migration.
/// </summary>
[Trait("Category", "Unit")]
public sealed class StoredStateShapeTests
{
    private const string ConfigText = """{"name":"stored","labels":["a","b"],"model":{"textEncoder":"minilm-l6"},"round":{"minClients":2,"fillIn":"hard","robustness":{"rule":"median"}}}""";
    private const string MetricsText = """{"clientId":"site-a","round":1,"modalities":"image","trainSamples":40,"valSamples":10,"before":{"accuracy":0.5,"macroF1":0.4,"loss":1.2},"after":{"accuracy":0.6,"macroF1":0.5,"loss":1},"epochs":1,"seconds":2.5}""";

    [Fact]
    public void Round_state_with_config_and_metrics_as_json_text_reads_typed_and_writes_the_same_shape()
    {
        var stored = new JsonObject
        {
            ["federationId"] = "fed", ["round"] = 1, ["configJson"] = ConfigText, ["minClients"] = 2,
            ["participants"] = new JsonArray(new JsonObject { ["clientId"] = "site-a", ["modalities"] = "image" }),
            ["state"] = "Collecting",
            ["submissions"] = new JsonArray(new JsonObject
            {
                ["clientId"] = "site-a", ["round"] = 1, ["artifacts"] = new JsonArray(), ["sampleCount"] = 40,
                ["metricsJson"] = MetricsText, ["submittedAt"] = "2026-01-01T00:00:00+00:00",
            }),
        };
        var serializer = new JsonGrainStorageSerializer();
        var state = serializer.Deserialize<RoundGrainState>(new BinaryData(stored.ToJsonString()));

        Assert.Equal(TextEncoderKind.MiniLML6, state.Config!.Model.TextEncoder);
        Assert.Equal(FillIn.Hard, state.Config.Round.FillIn);
        Assert.Equal(AggregationRule.Median, state.Config.Round.Robustness.Rule);
        var metrics = Assert.Single(state.Submissions).Metrics;
        Assert.Equal(("site-a", 40, 0.5), (metrics.ClientId, metrics.TrainSamples, metrics.After.MacroF1));

        var written = JsonNode.Parse(serializer.Serialize(state).ToString())!;
        Assert.Equal(JsonValueKind.String, written["configJson"]!.GetValueKind());
        Assert.Equal(state.Config, ContractJson.Parse<FederationConfig>(written["configJson"]!.GetValue<string>(), "configJson") with { Labels = state.Config.Labels });
        Assert.Equal(JsonValueKind.String, written["submissions"]![0]!["metricsJson"]!.GetValueKind());
        Assert.Null(written["config"]);
        Assert.Null(written["submissions"]![0]!["metrics"]);
    }

    [Fact]
    public void Federation_state_keeps_its_config_and_each_rounds_config_as_json_text()
    {
        var stored = new JsonObject
        {
            ["configJson"] = ConfigText, ["createdAt"] = "2026-01-01T00:00:00+00:00", ["clients"] = new JsonArray(),
            ["rounds"] = new JsonArray(new JsonObject { ["round"] = 1, ["state"] = "Queued", ["participants"] = new JsonArray(), ["configJson"] = ConfigText }),
        };
        var serializer = new JsonGrainStorageSerializer();
        var state = serializer.Deserialize<FederationState>(new BinaryData(stored.ToJsonString()));

        Assert.Equal("stored", state.Config!.Name);
        Assert.Equal(2, Assert.Single(state.Rounds).Config.Round.MinClients);
        var written = JsonNode.Parse(serializer.Serialize(state).ToString())!;
        Assert.Equal(JsonValueKind.String, written["configJson"]!.GetValueKind());
        Assert.Equal(JsonValueKind.String, written["rounds"]![0]!["configJson"]!.GetValueKind());
        Assert.Equal(["a", "b"], ContractJson.Parse<FederationConfig>(written["configJson"]!.GetValue<string>(), "configJson").Labels);
    }

    [Fact]
    public void A_client_history_entry_without_metrics_stays_null()
    {
        var record = new ClientRoundRecord(1, RoundState.Failed, null, null, "no update");
        string json = JsonSerializer.Serialize(record, ContractJson.Options);
        Assert.Contains("\"metricsJson\":null", json);
        Assert.Null(JsonSerializer.Deserialize<ClientRoundRecord>(json, ContractJson.Options)!.Metrics);
    }
}
