{#- Models build into the schemas named by the medallion layer (bronze, silver,
    gold), not dbt's default <target schema>_<custom schema>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ layer_schema((custom_schema_name or target.schema) | trim) }}
{%- endmacro %}

{#- The schema of a layer: on Athena the Glue database the settings name for it
    (vars bronze_database, silver_database, gold_database); locally the layer's
    own name, which the command line reads back. -#}
{% macro layer_schema(layer) -%}
    {{ return(adapter.dispatch('layer_schema', 'streamlake')(layer)) }}
{%- endmacro %}

{% macro default__layer_schema(layer) -%}
    {{ return(var(layer ~ '_database', layer)) }}
{%- endmacro %}

{% macro duckdb__layer_schema(layer) -%}
    {{ return(layer) }}
{%- endmacro %}
