{#- Which DynamoDB attribute each staged column is read from, per table, comes
    from the var dynamodb_attributes (dbt_project.yml), so that an application
    whose items say OrderID or TotalAmount builds the same Silver without SQL
    edits. The columns below are what the staging models select: the var is
    checked against them, so that a misspelt table or column fails the parse
    with its name instead of silently staging nulls. -#}
{% macro dynamodb_staged_columns() -%}
    {{ return({
        'customers': ['customer_id', 'customer_name', 'email', 'region', 'created_at'],
        'products': ['product_id', 'product_name', 'category', 'price', 'stock'],
        'orders': [
            'order_id', 'customer_id', 'product_id', 'quantity', 'amount', 'status',
            'created_at', 'updated_at'
        ],
    }) }}
{%- endmacro %}

{#- The attribute name a table's column is read from, with the whole var
    checked first (it is small, and every staging model calls this). -#}
{% macro dynamodb_attribute(table, column) -%}
    {%- set staged = dynamodb_staged_columns() -%}
    {%- set configured = var('dynamodb_attributes', none) -%}
    {%- if configured is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var dynamodb_attributes must map table -> column -> DynamoDB attribute name, got "
            ~ configured | string | truncate(80)) }}
    {%- endif -%}
    {%- for name in configured if name not in staged -%}
        {{ exceptions.raise_compiler_error(
            "var dynamodb_attributes names table '" ~ name ~ "', which no staging model reads;"
            ~ " tables: " ~ staged | sort | join(', ')) }}
    {%- endfor -%}
    {%- for name, columns in staged.items() -%}
        {%- set attributes = configured.get(name) -%}
        {%- if attributes is not mapping -%}
            {{ exceptions.raise_compiler_error(
                "var dynamodb_attributes." ~ name ~ " must map each of " ~ columns | join(', ')
                ~ " to a DynamoDB attribute name") }}
        {%- endif -%}
        {%- for key in attributes if key not in columns -%}
            {{ exceptions.raise_compiler_error(
                "var dynamodb_attributes." ~ name ~ " names column '" ~ key ~ "', which stg_"
                ~ name ~ " does not have; columns: " ~ columns | join(', ')) }}
        {%- endfor -%}
        {%- for key in columns -%}
            {%- if key not in attributes -%}
                {{ exceptions.raise_compiler_error(
                    "var dynamodb_attributes." ~ name ~ " gives no attribute for column '" ~ key
                    ~ "' (every column must be given)") }}
            {%- endif -%}
            {%- set attribute = attributes[key] -%}
            {%- if attribute is not string or attribute | length == 0 -%}
                {{ exceptions.raise_compiler_error(
                    "var dynamodb_attributes." ~ name ~ "." ~ key
                    ~ " must be a DynamoDB attribute name (a non-empty string), got "
                    ~ attribute | tojson) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if column not in staged.get(table, []) -%}
        {{ exceptions.raise_compiler_error(
            "dynamodb_attribute: " ~ table ~ "." ~ column ~ " is not a staged column;"
            ~ " add it to dynamodb_staged_columns and the var dynamodb_attributes") }}
    {%- endif -%}
    {{ return(configured[table][column]) }}
{%- endmacro %}

{#- The JSON path of a top-level attribute. A plain identifier keeps the dot
    form ($.order_id), which reads the same on both engines and leaves the
    staging views' SQL as it was before the var existed (a DuckDB view is
    replaced only when its SQL changes). Any other name is quoted in each
    engine's own syntax, with backslash and double quote escaped. -#}
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

{#- A staged column's value as varchar, from the change's keys or item image
    (`source`: the column holding that JSON). -#}
{% macro dynamodb_text(source, table, column) -%}
    {{ json_text(source, dynamodb_attribute_path(dynamodb_attribute(table, column))) }}
{%- endmacro %}
