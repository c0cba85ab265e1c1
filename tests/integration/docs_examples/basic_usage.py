import asyncio
from kellyapi import KellyAPI

async def main():
    api = KellyAPI(api_key="your_api_key_here")
    
    # Call async methods
    response = await api.llm(prompt="Hello, world!")
    print(response)

# Run the async function
asyncio.run(main())
