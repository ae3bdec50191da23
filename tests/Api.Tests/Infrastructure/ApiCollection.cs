namespace FedMM.Api.Tests.Infrastructure;

/// <summary>One Azurite, one silo and one API host for every API test class.</summary>
[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "api";
}
