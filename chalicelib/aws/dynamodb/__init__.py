"""Apps, routes and calls in one DynamoDB table: `table` holds the layout, one store per record."""
