namespace FedMM.Contracts;

/// <summary>A safetensors stream that is malformed, inconsistent, over a limit or holds non-finite values.</summary>
public sealed class SafetensorsFormatException : FormatException
{
    /// <summary>Creates the exception; <paramref name="tensor"/> and <paramref name="field"/> say where.</summary>
    public SafetensorsFormatException(string message, string? tensor = null, string? field = null, Exception? inner = null)
        : base(Describe(message, tensor, field), inner)
    {
        Tensor = tensor;
        Field = field;
    }

    private SafetensorsFormatException(string fullMessage, string? tensor, string? field, Exception inner, bool _)
        : base(fullMessage, inner)
    {
        Tensor = tensor;
        Field = field;
    }

    /// <summary>The same problem, with the file it was found in named first.</summary>
    public SafetensorsFormatException InFile(string path) => new($"{path}: {Message}", Tensor, Field, this, true);

    /// <summary>The tensor the problem is in, when it concerns one.</summary>
    public string? Tensor { get; }

    /// <summary>The header field or part of the file ("dtype", "shape", "data_offsets", "header", "data", "values").</summary>
    public string? Field { get; }

    private static string Describe(string message, string? tensor, string? field) =>
        (tensor, field) switch
        {
            (not null, not null) => $"safetensors: tensor '{tensor}', {field}: {message}",
            (not null, null) => $"safetensors: tensor '{tensor}': {message}",
            (null, not null) => $"safetensors: {field}: {message}",
            _ => $"safetensors: {message}",
        };
}
