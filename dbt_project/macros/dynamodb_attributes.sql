{#- Reading a DynamoDB item's attributes. The application file (streamlake.yml)
    says which attribute each staged column is read from; `streamlake sources
    apply` writes the staging models that read them with these macros. -#}

{#- The JSON path of a top-level attribute. A plain identifier keeps the dot
    form ($.order_id), which reads the same on both engines. Any other name
    ("Order ID", "order.id", "PK#1") is quoted in each engine's own syntax, with
    backslash and double quote escaped. -#}
{% macro dynamodb_attribute_path(attribute) -%}
    {%- if modules.re.fullmatch('[A-Za-z_][A-Za-z0-9_]*', attribute) -%}
        {{ return('$.' ~ attribute) }}
    {%- endif -%}
    {%- set escaped = attribute | replace('\\', '\\\\') | replace('"', '\\"') -%}
    {{ return(adapter.dispatch('dynamodb_quoted_path', 'streamlake')(escaped)) }}
{%- endmacro %}

{#- Trino's json_extract_scalar reads a quoted member only in brackets. -#}
{% macro default__dynamodb_quoted_path(escaped) -%}
    {{ return('$["' ~ escaped ~ '"]') }}
{%- endmacro %}

{#- DuckDB's JSON paths take a quoted member after the dot, not in brackets. -#}
{% macro duckdb__dynamodb_quoted_path(escaped) -%}
    {{ return('$."' ~ escaped ~ '"') }}
{%- endmacro %}

{#- An attribute's value as varchar, from the change's keys or item image
    (`source`: the column holding that JSON). -#}
{% macro dynamodb_text(source, attribute) -%}
    {{ json_text(source, dynamodb_attribute_path(attribute)) }}
{%- endmacro %}

{#- The text without a leading prefix (USER#42 -> 42), as a single-table
    design's keys carry their entity's name. Text without it stays as it is. -#}
{% macro strip_prefix(expression, prefix) -%}
    case
        when {{ starts_with(expression, prefix) }}
            then substr({{ expression }}, {{ prefix | length + 1 }})
        else {{ expression }}
    end
{%- endmacro %}

{#- True when the text starts with a prefix (the same function on both engines). -#}
{% macro starts_with(expression, prefix) -%}
    starts_with({{ expression }}, '{{ prefix | replace("'", "''") }}')
{%- endmacro %}
