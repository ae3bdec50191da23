using System.Text.Json;
using FedMM.Contracts;
using Orleans.Storage;

namespace FedMM.Grains.Storage;

/// <summary>Grain state as plain JSON (System.Text.Json), readable and editable outside Orleans.</summary>
public sealed class JsonGrainStorageSerializer : IGrainStorageSerializer
{
    /// <inheritdoc />
    public BinaryData Serialize<T>(T? input) =>
        new(JsonSerializer.SerializeToUtf8Bytes(input, ContractJson.Options));

    /// <inheritdoc />
    public T Deserialize<T>(BinaryData input) =>
        JsonSerializer.Deserialize<T>(input.ToMemory().Span, ContractJson.Options)
        ?? throw new JsonException($"Grain state of type {typeof(T).Name} deserialized to null.");
}
