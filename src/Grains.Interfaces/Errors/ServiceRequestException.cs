namespace FedMM.Grains.Interfaces.Errors;

/// <summary>
/// A grain's refusal of a request, with a kind the API maps to an HTTP status and a message that
/// names what was wrong and where. A request refused this way changed nothing.
/// </summary>
[GenerateSerializer, Alias("fedmm.service-request-exception")]
public sealed class ServiceRequestException : Exception
{
    /// <summary>Creates a refusal of the given kind.</summary>
    public ServiceRequestException(ServiceErrorKind kind, string message) : base(message) => Kind = kind;

    /// <summary>Why the request was refused.</summary>
    [Id(0)]
    public ServiceErrorKind Kind { get; private set; }

    /// <summary>A 400 refusal.</summary>
    public static ServiceRequestException Invalid(string message) => new(ServiceErrorKind.Invalid, message);

    /// <summary>A 404 refusal.</summary>
    public static ServiceRequestException NotFound(string message) => new(ServiceErrorKind.NotFound, message);

    /// <summary>A 409 refusal.</summary>
    public static ServiceRequestException Conflict(string message) => new(ServiceErrorKind.Conflict, message);

    /// <summary>A 403 refusal.</summary>
    public static ServiceRequestException Forbidden(string message) => new(ServiceErrorKind.Forbidden, message);
}
